package kafkaserver

import (
	"context"
	"errors"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kerr"
)

// errorCode maps an error of the log to the Kafka protocol's error code.
// Errors it does not know become UNKNOWN_SERVER_ERROR; the server logs
// those.
func errorCode(err error) int16 {
	var corrupt *eventlog.CorruptError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, errTopicBeingCreated):
		return kerr.LeaderNotAvailable.Code
	case errors.Is(err, errListTimestamp):
		return kerr.UnsupportedVersion.Code
	case errors.Is(err, eventlog.ErrTopicNotFound), errors.Is(err, eventlog.ErrPartitionNotFound):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, eventlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, eventlog.ErrRecordTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, eventlog.ErrUnsupportedCompression):
		return kerr.UnsupportedCompressionType.Code
	case errors.As(err, &corrupt):
		return kerr.KafkaStorageError.Code // damage on disk
	case errors.Is(err, eventlog.ErrCorrupt):
		return kerr.CorruptMessage.Code // a produced batch's CRC
	case errors.Is(err, eventlog.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, eventlog.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, eventlog.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, eventlog.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, eventlog.ErrGroupNotEmpty):
		return kerr.NonEmptyGroup.Code
	case errors.Is(err, eventlog.ErrGroupNotFound):
		return kerr.GroupIDNotFound.Code
	case errors.Is(err, eventlog.ErrFencedInstanceID):
		return kerr.FencedInstanceID.Code
	case errors.Is(err, eventlog.ErrUnknownMember):
		return kerr.UnknownMemberID.Code
	case errors.Is(err, eventlog.ErrIllegalGeneration), errors.Is(err, eventlog.ErrCommitFailed):
		return kerr.IllegalGeneration.Code
	case errors.Is(err, eventlog.ErrRebalanceInProgress):
		return kerr.RebalanceInProgress.Code
	case errors.Is(err, eventlog.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, eventlog.ErrProducerFenced):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, eventlog.ErrReadOnly):
		// The host opened the Log read-only: every write is refused, for
		// good. Kafka answers a request its configured policy refuses
		// (CreateTopics and AlterConfigs policies, DeleteRecords on a
		// compacted topic) with POLICY_VIOLATION, which clients do not
		// retry; UNKNOWN_SERVER_ERROR would say nothing, and
		// KAFKA_STORAGE_ERROR would be retried until the client gives up.
		return kerr.PolicyViolation.Code
	case errors.Is(err, eventlog.ErrClosed):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, errors.ErrUnsupported), errors.Is(err, errNamedAgain):
		return kerr.InvalidRequest.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage returns err's text for the error message fields of
// responses, nil without an error.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
