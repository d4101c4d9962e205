//go:build !purego

package eventlog

// fastParser tells that parseShortRecords tables records here.
const fastParser = true

// parseShortRecords tables the records at p of area whose framing is
// short, up to len(kv) of them (meta is as long), stopping at the first that is not (see
// parse_short_amd64.s for what short means). It returns how many it
// tabled, where the next record starts and that record's predecessor's
// offset delta. Every position must fit in an int32.
//
//go:noescape
func parseShortRecords(area []byte, p int, kv []kvEntry, meta []metaEntry, prevDelta, lastDelta int64) (n, end int, prev int64)
