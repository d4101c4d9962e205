// Command aggregate keeps a bank account as an event-sourced aggregate with
// optimistic concurrency. The account's events are a stream — the one
// partition of topic "account-alice" — and its state is rebuilt by
// replaying them. To change it, a writer loads the state, decides, and
// appends the new event only if the stream still ends where it loaded it
// (eventlog.IfEndOffset), as EventStoreDB's expected revision does. Two
// tellers withdraw from the account at once; when one loses the race, it
// reloads and decides again, so the balance never goes below zero however
// their appends interleave.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"

	"github.com/eventlog/eventlog"
)

// Event is one fact about the account.
type Event struct {
	Kind   string `json:"kind"` // "deposit" or "withdrawal"
	Amount int64  `json:"amount"`
}

// Account is the aggregate: its state, and the stream's end offset it was
// rebuilt from — its version.
type Account struct {
	Balance int64
	Version int64
}

// errInsufficientFunds refuses a withdrawal the balance does not cover.
var errInsufficientFunds = errors.New("insufficient funds")

// load rebuilds the account from its stream, up to the high watermark.
func load(p *eventlog.Partition) (Account, error) {
	acc := Account{Version: p.HighWatermark()}
	for v, err := range p.Views(p.LogStartOffset()) {
		if err != nil {
			return acc, err
		}
		if v.Offset >= acc.Version {
			break
		}
		var e Event
		if err := json.Unmarshal(v.Value, &e); err != nil {
			return acc, fmt.Errorf("offset %d: %w", v.Offset, err)
		}
		switch e.Kind {
		case "deposit":
			acc.Balance += e.Amount
		case "withdrawal":
			acc.Balance -= e.Amount
		}
	}
	return acc, nil
}

// decide returns the event a withdrawal makes, or why there is none.
func (a Account) decide(amount int64) (Event, error) {
	if a.Balance < amount {
		return Event{}, fmt.Errorf("withdraw %d from %d: %w", amount, a.Balance, errInsufficientFunds)
	}
	return Event{Kind: "withdrawal", Amount: amount}, nil
}

// execute loads the account, decides with fn and appends the event if
// nobody appended since the load; it retries on a conflict. It returns how
// many conflicts it met.
func execute(ctx context.Context, p *eventlog.Partition, fn func(Account) (Event, error)) (conflicts int, err error) {
	for {
		acc, err := load(p)
		if err != nil {
			return conflicts, err
		}
		e, err := fn(acc)
		if err != nil {
			return conflicts, err
		}
		value, err := json.Marshal(e)
		if err != nil {
			return conflicts, err
		}
		_, err = p.Append(ctx, []eventlog.Record{{Key: []byte("alice"), Value: value}},
			eventlog.AppendOptions{Condition: eventlog.IfEndOffset(acc.Version)})
		var moved *eventlog.UnexpectedOffsetError
		if !errors.As(err, &moved) {
			return conflicts, err
		}
		// Someone appended first: wait until what they appended is
		// readable, then decide again on the new state.
		conflicts++
		if err := p.Wait(ctx, moved.Actual-1); err != nil {
			return conflicts, err
		}
	}
}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run is the example; main reports its error once the deferred clean-up,
// the removal of the temporary directory, has run.
func run() error {
	dir, err := os.MkdirTemp("", "eventlog-aggregate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	if err := l.CreateTopic("account-alice", eventlog.TopicConfig{}); err != nil {
		return err
	}
	p, err := l.Partition("account-alice", 0)
	if err != nil {
		return err
	}
	if _, err := execute(ctx, p, func(Account) (Event, error) { return Event{Kind: "deposit", Amount: 100}, nil }); err != nil {
		return err
	}

	// Two tellers, each trying to withdraw 15 six times: 180 asked, 100
	// there. Every withdrawal is decided on the latest balance.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted int
		refused int
		retries int
		failed  error
	)
	for teller := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 6 {
				conflicts, err := execute(ctx, p, func(a Account) (Event, error) { return a.decide(15) })
				mu.Lock()
				retries += conflicts
				switch {
				case errors.Is(err, errInsufficientFunds):
					refused++
				case err != nil:
					failed = errors.Join(failed, fmt.Errorf("teller %d: %w", teller, err))
				default:
					granted++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	acc, err := load(p)
	if err != nil {
		return err
	}
	fmt.Printf("withdrawals granted %d, refused %d, retried after a conflict %d\n", granted, refused, retries)
	fmt.Printf("balance %d at version %d (never below zero)\n", acc.Balance, acc.Version)
	if acc.Balance != 100-15*int64(granted) || acc.Balance < 0 {
		return fmt.Errorf("balance %d does not match %d withdrawals", acc.Balance, granted)
	}
	return nil
}
