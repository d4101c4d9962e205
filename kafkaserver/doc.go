// Package kafkaserver makes an eventlog.Log reachable by Kafka clients.
package kafkaserver
