package kafkaserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kafkaserver test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

var errBadPassword = errors.New("bad password")

func checkPlain(_ context.Context, user, password string) error {
	if user == "alice" && password == "s3cret" {
		return nil
	}
	return errBadPassword
}

func TestTLSAndSASLPlain(t *testing.T) {
	cert, pool := selfSigned(t)
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	f := serve(t, l, &kafkaserver.Options{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		SASLPlain: checkPlain,
	})
	ctx := testContext(t)
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	good := f.client(t, kgo.DialTLSConfig(clientTLS), kgo.SASL(plain.Auth{User: "alice", Pass: "s3cret"}.AsMechanism()),
		kgo.DefaultProduceTopic("t"), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, good.ProduceSync(ctx, &kgo.Record{Value: []byte("secret")}).FirstErr())
	got := consume(t, ctx, good, 1)
	assert.Equal(t, "secret", string(got[0].Value))
	// Fetch responses over TLS are gathered from the mapping, not written
	// from it: many batches, all intact.
	var more []*kgo.Record
	for i := range 300 {
		more = append(more, &kgo.Record{Value: fmt.Appendf(nil, "secret %d", i)})
		if i%7 == 0 {
			require.NoError(t, good.ProduceSync(ctx, more...).FirstErr())
			more = more[:0]
		}
	}
	require.NoError(t, good.ProduceSync(ctx, more...).FirstErr())
	got = consume(t, ctx, good, 300)
	for i, rec := range got {
		assert.Equal(t, fmt.Sprintf("secret %d", i), string(rec.Value))
	}

	bad := f.client(t, kgo.DialTLSConfig(clientTLS), kgo.SASL(plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism()))
	err := bad.Ping(ctx)
	require.ErrorIs(t, err, kerr.SaslAuthenticationFailed)

	noSASL := f.client(t, kgo.DialTLSConfig(clientTLS), kgo.RequestRetries(0))
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.Error(t, noSASL.Ping(short), "a client that does not authenticate is refused")

	noTLS := f.client(t, kgo.SASL(plain.Auth{User: "alice", Pass: "s3cret"}.AsMechanism()), kgo.RequestRetries(0))
	short2, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	require.Error(t, noTLS.Ping(short2), "plaintext on a TLS listener is refused")
}

func TestSASLPlainWithoutTLS(t *testing.T) {
	l := eventlogtest.New(t, nil)
	f := serve(t, l, &kafkaserver.Options{SASLPlain: checkPlain})
	ctx := testContext(t)
	good := f.client(t, kgo.SASL(plain.Auth{User: "alice", Pass: "s3cret"}.AsMechanism()))
	require.NoError(t, good.Ping(ctx))
	bad := f.client(t, kgo.SASL(plain.Auth{User: "mallory", Pass: "s3cret"}.AsMechanism()))
	require.ErrorIs(t, bad.Ping(ctx), kerr.SaslAuthenticationFailed)
}

func TestListenAndServeRefusesNonLoopback(t *testing.T) {
	srv, err := kafkaserver.New(eventlogtest.New(t, nil), nil)
	require.NoError(t, err)
	defer srv.Close()
	require.ErrorIs(t, srv.ListenAndServe("0.0.0.0:0"), kafkaserver.ErrNotLoopback)
	require.ErrorIs(t, srv.ListenAndServe("192.0.2.1:9092"), kafkaserver.ErrNotLoopback)
}
