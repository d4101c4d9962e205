// Package kafkabridge connects an eventlog Log to a Kafka cluster.
package kafkabridge

import (
	_ "github.com/eventlog/eventlog"
	_ "github.com/twmb/franz-go/pkg/kgo"
)
