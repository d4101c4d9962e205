//go:build !amd64 || purego

package eventlog

// fastParser tells that parseShortRecords tables records here.
const fastParser = false

// parseShortRecords tables no records here, where there is no assembly for
// it (or the purego build tag asks for none): recordIter.next, the general
// parser, tables them one by one (see parse_short_amd64.s).
func parseShortRecords(area []byte, p int, kv []kvEntry, meta []metaEntry, prevDelta, lastDelta int64) (n, end int, prev int64) {
	return 0, p, prevDelta
}
