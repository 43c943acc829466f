// Package auth is cubby's accounts-and-sessions layer: everything needed to
// decide who a request belongs to, and nothing about what that person's data
// looks like.
//
// Its parts fit together along the login flow described in DESIGN.md:
//
//   - [ValidateUsername] and [ValidatePassword] check what a person typed
//     against the rules of the HTTP contract before anything else runs.
//   - [Throttle] counts failed logins per (client address, username) pair,
//     per client address and per username in memory, and is asked before any
//     password is hashed; [Devices] issues and checks the device cookies that
//     let an owner's own browsers past the per-username limit, signed with a
//     key kept in routing.db ([LoadDeviceKey]). Signup has a per-address
//     limit of its own (AccountsConfig.SignupLimit).
//   - [Hasher] hashes and verifies passwords with argon2id under a semaphore,
//     so a login flood costs bounded memory and a bounded wait (ErrBusy past
//     it), and offers [Hasher.Dummy] so an
//     unknown user costs the same as a wrong password.
//   - [SessionStore] is the scs session store over routing.db: tokens are kept
//     hashed, reads come from a bounded cache, and the idle-deadline refresh
//     scs commits on every request is coalesced so the request path almost
//     never writes to routing.db.
//
// Nothing here holds package-level mutable state: every value is built by the
// caller (normally main) and passed down.
package auth
