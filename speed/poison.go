package speed

// copyMark is a position in cdp.events.rejected.
type copyMark struct {
	Partition int
	Offset    int64
}
