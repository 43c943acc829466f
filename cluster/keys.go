package cluster

// keys is the key layout of a cluster under its prefix (see the package
// documentation).
type keys string

func (k keys) nodes() string                  { return string(k) + "/nodes/" }
func (k keys) node(id string) string          { return k.nodes() + id }
func (k keys) owners() string                 { return string(k) + "/owner/" }
func (k keys) owner(tenant string) string     { return k.owners() + tenant }
func (k keys) lastOwners() string             { return string(k) + "/last-owner/" }
func (k keys) lastOwner(tenant string) string { return k.lastOwners() + tenant }
func (k keys) replicas() string               { return string(k) + "/replica/" }
func (k keys) replica(tenant string) string   { return k.replicas() + tenant }
func (k keys) users() string                  { return string(k) + "/users/" }
func (k keys) user(name string) string        { return k.users() + name }
func (k keys) ids() string                    { return string(k) + "/ids/" }
func (k keys) id(tenant string) string        { return k.ids() + tenant }
func (k keys) sessions() string               { return string(k) + "/sessions/" }
func (k keys) session(d string) string        { return k.sessions() + d }

// tenantSessions is the index of one tenant's sessions.
func (k keys) tenantSessions(tenant string) string {
	return string(k) + "/session-tenants/" + tenant + "/"
}
func (k keys) tenantSession(tenant, d string) string { return k.tenantSessions(tenant) + d }
