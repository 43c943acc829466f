// Package auth is cubby's accounts-and-sessions layer: everything needed to
// decide who a request belongs to, and nothing about what that person's data
// looks like.
//
// [Accounts] is where its parts meet: it signs people up, logs them in,
// checks a password again before an account is deleted, and removes
// accounts. An account is a tenant (see package tenant) whose own file holds
// the account row; routing.db holds no password. Along a login:
//
//   - [ValidateUsername] and [ValidatePassword] check what a person typed
//     against the rules of the HTTP contract before anything else runs.
//   - [Throttle] counts failed logins per (client address, username) pair,
//     per client address and per username in memory, and is asked before any
//     password is hashed; [Devices] issues and checks the device cookies that
//     let an owner's own browsers past the per-username limit, signed with a
//     key kept in routing.db ([LoadDeviceKey]). Signup has a per-address
//     limit of its own (AccountsConfig.SignupLimit). On a cluster both keep
//     their counts in a [Counter] every node shares (throttle_shared.go),
//     and the device key is the cluster's.
//   - [Hasher] hashes and verifies passwords with argon2id under a semaphore,
//     so a login flood costs bounded memory and a bounded wait (ErrBusy past
//     it), and offers [Hasher.Dummy] so an unknown user costs the same as a
//     wrong password.
//   - [Sessions] then remembers who signed in: an scs session manager with
//     cubby's cookie, whose sessions hold the tenant id ([SessionTenantKey])
//     encoded by [SessionCodec]. A request that only asks whose it is reads
//     the values the store holds decoded ([SessionStore.FindValues]); scs
//     loads the session only for a request that signs in or out.
//   - [SessionStore] keeps those sessions in a table of routing.db that it
//     alone writes ([CreateSessionTable] makes it, and moves in the sessions
//     of versions that kept them through scs's sqlite3store): tokens are kept
//     hashed, reads come from a bounded cache, and the idle-deadline refresh
//     is coalesced so the request path almost never writes to routing.db.
//
// [ScrubExport] blanks the password hash in an exported copy of a tenant's
// file. Tests of other packages take cheap hashing parameters from
// github.com/cubbyhq/cubby/auth/authtest.
//
// Nothing here holds package-level mutable state: every value is built by the
// caller (normally main) and passed down.
package auth
