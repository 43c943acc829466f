package tenant

import "fmt"

// FileLimitError is why a number of open handles cannot fit in the
// process's file descriptor limit. It names no flag: the caller knows what
// set the number and can say so.
type FileLimitError struct {
	Handles int    // the open handles asked for
	Need    uint64 // descriptors they and the rest of the process need
	Soft    uint64 // the limit in force
	Hard    uint64 // how far it could be raised
	Fit     int    // the most handles the hard limit allows
}

// Error says what does not fit and what to change.
func (e *FileLimitError) Error() string {
	return fmt.Sprintf("%d open handles need about %d file descriptors but the limit is %d (hard %d); "+
		"allow at most %d open handles or raise the limit (ulimit -n)", e.Handles, e.Need, e.Soft, e.Hard, e.Fit)
}
