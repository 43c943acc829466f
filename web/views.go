package web

import (
	"time"

	"github.com/cubbyhq/cubby/notes"
)

// The pages Render knows, each a file in templates/.
const (
	PageLanding = "landing" // data: Landing
	PageSignup  = "signup"  // data: Credentials
	PageLogin   = "login"   // data: Credentials
	PageNotes   = "notes"   // data: NoteList
	PageEdit    = "edit"    // data: NoteEdit
	PageAccount = "account" // data: Account
	PageError   = "error"   // data: Problem
	// PageOperator is the operator page of the --metrics-addr listener,
	// never of the app.
	PageOperator = "operator" // data: Operator
)

// Frame is what every page shows around its content.
type Frame struct {
	Title string // the page's name, in the tab
	User  string // the signed-in username, or "" when signed out
	// Operator marks the operator page, whose header links to the operator
	// listener's pages instead of the app's.
	Operator bool
}

// Landing is the front page for signed-out visitors.
type Landing struct {
	Frame
	SignupOpen bool
}

// Credentials is the signup or login form: the username as typed, an error
// beside each field that has one, and an error for the form as a whole.
type Credentials struct {
	Frame
	Username    string
	FieldErrors map[string]string // "username" or "password" → message
	Error       string
	Closed      bool // signup is closed: show no form
}

// NoteForm is a note being written: the input kept and an error beside each
// field that has one.
type NoteForm struct {
	Title, Body string
	FieldErrors map[string]string // "title" or "body" → message
}

// NoteList is the notes page: search, one page of the list and the form
// for a new note.
type NoteList struct {
	Frame
	Query      string
	QueryError string
	Notes      []notes.Note
	Continued  bool   // this page follows an earlier one
	Older      string // the URL of the next page, "" on the last
	New        NoteForm
}

// NoteEdit is the page that changes one note.
type NoteEdit struct {
	Frame
	ID   int64
	Form NoteForm
}

// Account is the account page: usage, export and deletion.
type Account struct {
	Frame
	CreatedAt     time.Time
	SizeBytes     int64
	NoteCount     int
	SchemaVersion int
	DeleteError   string
}

// Problem is an error page.
type Problem struct {
	Frame
	Status  int
	Message string
}

// Operator is the operator page: failed tenants first, then the pool,
// pending migrations, replication, and one page of every tenant.
type Operator struct {
	Frame
	Tenants int // every tenant in routing.db
	// Failed are failed tenants (the first of them by name), FailedCount
	// how many there are in all.
	Failed        []OperatorTenant
	FailedCount   int
	Pool          OperatorPool
	SchemaVersion int // the newest migration the server applies
	Pending       int // tenants below SchemaVersion
	// Replication is a line on replication ("" while the server has none:
	// the page says so), and each row's ReplicaLag is set when it does.
	Replication string
	Rows        []OperatorTenant // this page of the tenant list, by name
	Continued   bool             // this page follows an earlier one
	Next        string           // the username the next page starts after, "" on the last
	// Cluster is set on a node of a cluster; Failed and Pending are then
	// not counted (the directory is in etcd, not routing.db).
	Cluster *OperatorCluster
}

// OperatorCluster is a cluster node's view of the cluster.
type OperatorCluster struct {
	Node  string // this node's id
	Lease string // "held", or why it was lost
	Lost  bool
	Nodes []OperatorNode // the live nodes, by id
}

// OperatorNode is one live node of a cluster.
type OperatorNode struct {
	ID, Advertise string
	Tenants       int  // how many tenants it owns now
	Self          bool // the node serving the page
}

// OperatorPool is the handle pool, as the operator page shows it.
type OperatorPool struct {
	Open, Capacity int
	Hits, Misses   uint64
	HitRate        string // "97.5%", or "—" before any acquire
	Evictions      uint64
	// Memo is what the memos hold ("1.2 MiB"); Kept how many closed
	// tenants' memos are kept, KeptHits the reads answered from them.
	Memo           string
	Kept           int
	KeptHits       uint64
	OpenSinceStart int // tenants the pool has opened since it started
}

// OperatorTenant is one tenant row on the operator page.
type OperatorTenant struct {
	Username, ID  string
	State         string
	SchemaVersion int
	Behind        bool  // below the server's schema version
	SizeBytes     int64 // the file plus its WAL
	// SizeError says why there is no size ("no file"), "" when there is.
	SizeError  string
	CreatedAt  time.Time
	LastOpened time.Time // zero: not opened since the server started
	Open       bool      // the pool holds its file open now
	Error      string    // why its last migration failed
	// ReplicaLag is how far its replica is behind, "" without replication.
	ReplicaLag string
	// Owner is the node that owns it now, "—" for none (cluster only).
	Owner string
}
