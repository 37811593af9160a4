package jobs

// Progress receives a running job's progress. Implementations must be
// safe for concurrent use.
type Progress interface {
	// Start begins a stage ("land partition 3", "ingest crm.csv") with the
	// expected number of rows (0 when unknown).
	Start(stage string, totalRows int64)
	// Add reports rows and bytes done in the current stage.
	Add(rows, bytes int64)
	// End says the current stage is over: its display goes. The Runner
	// starts a stage named after each job it runs and ends it, so that a
	// job that reports nothing still shows that it runs.
	End()
}

// NopProgress discards reports.
type NopProgress struct{}

// Start implements Progress.
func (NopProgress) Start(string, int64) {}

// Add implements Progress.
func (NopProgress) Add(int64, int64) {}

// End implements Progress.
func (NopProgress) End() {}
