package kafkabridge

import "errors"

var (
	// ErrPartitionMismatch is returned when a topic on the receiving side
	// has fewer partitions than the topic it is bridged from: records keep
	// their partition numbers across the bridge, so partition N needs a
	// partition N on the other side. Add partitions there (Kafka's
	// kafka-topics --alter --partitions, or eventlog's Log.CreatePartitions)
	// and start the bridge again. (A Mirror adds them itself to a local
	// topic it has mirrored into before, and a Forward with CreateTopics
	// to a remote topic.)
	ErrPartitionMismatch = errors.New("kafkabridge: partition counts do not match")

	// ErrRemoteTopicMissing is returned by a Forward when a remote topic does
	// not exist and ForwardOptions.CreateTopics is off, or is deleted while
	// it runs, and by a Mirror for a remote topic that does not exist or is
	// deleted while it runs.
	ErrRemoteTopicMissing = errors.New("kafkabridge: remote topic does not exist")

	// ErrAlreadyRun is returned by a second call of Run: a Forward or Mirror
	// runs once. Make a new one to run the bridge again; it resumes from
	// the progress the first stored.
	ErrAlreadyRun = errors.New("kafkabridge: Run called twice")
)
