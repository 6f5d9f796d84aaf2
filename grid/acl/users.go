package acl

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
)

// DefaultUser is the name of the user connections start as.
const DefaultUser = "default"

// Handle is a named user as connections hold it: a change replaces the User it points to
// (seen from the connection's next command); a deletion marks it deleted and the users'
// OnDelete hook closes the connections authenticated as it.
type Handle struct {
	name    string
	user    atomic.Pointer[User]
	deleted atomic.Bool
}

// User is the user's current rules.
func (h *Handle) User() *User { return h.user.Load() }

// Deleted reports whether the user was deleted after the connection authenticated.
func (h *Handle) Deleted() bool { return h.deleted.Load() }

// Store keeps the users that are not the default user: in the process (Users itself) or
// cluster-wide (the control plane's, which applies every change to the instance's Users
// before its calls return).
type Store interface {
	// Update changes the user named name to what change makes of its current rules (nil:
	// no such user yet); change may be called again when another instance changed the
	// user meanwhile. The user change returned is the one applied.
	Update(ctx context.Context, name string, change func(cur *User) (*User, error)) (*User, error)
	// Delete removes the users named, returning how many existed.
	Delete(ctx context.Context, names []string) (int, error)
}

// Users are the users an instance knows, by name.
type Users struct {
	catalog *Catalog
	// OnDelete, when set before use, is called with each user deleted.
	OnDelete func(*Handle)

	mu     sync.Mutex // serialises changes; reads go through the handles
	byName map[string]*Handle
	revs   map[string]int64 // the control plane's revision each user was applied at
}

// NewUsers returns the users of an instance: only def, the default user.
func NewUsers(cat *Catalog, def *User) *Users {
	us := &Users{catalog: cat, byName: map[string]*Handle{}, revs: map[string]int64{}}
	h := &Handle{name: DefaultUser}
	h.user.Store(def)
	us.byName[DefaultUser] = h
	return us
}

// Catalog is the command catalog the users are parsed against.
func (us *Users) Catalog() *Catalog { return us.catalog }

// Get finds a user by name; nil when there is none.
func (us *Users) Get(name string) *Handle {
	us.mu.Lock()
	defer us.mu.Unlock()
	return us.byName[name]
}

// Default is the default user.
func (us *Users) Default() *Handle { return us.Get(DefaultUser) }

// List is every user, by name.
func (us *Users) List() []*User {
	us.mu.Lock()
	out := make([]*User, 0, len(us.byName))
	for _, h := range us.byName {
		out = append(out, h.User())
	}
	us.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// put installs u under its name; the caller holds mu.
func (us *Users) put(u *User) {
	if h := us.byName[u.Name]; h != nil {
		h.user.Store(u)
		return
	}
	h := &Handle{name: u.Name}
	h.user.Store(u)
	us.byName[u.Name] = h
}

// remove deletes the user named; the caller holds mu. It reports whether one existed.
func (us *Users) remove(name string) bool {
	h := us.byName[name]
	if h == nil {
		return false
	}
	delete(us.byName, name)
	h.deleted.Store(true)
	if us.OnDelete != nil {
		us.OnDelete(h)
	}
	return true
}

// Update applies change in the process: Users is the Store of a standalone instance.
func (us *Users) Update(_ context.Context, name string, change func(cur *User) (*User, error)) (*User, error) {
	us.mu.Lock()
	defer us.mu.Unlock()
	var cur *User
	if h := us.byName[name]; h != nil {
		cur = h.User()
	}
	u, err := change(cur)
	if err != nil {
		return nil, err
	}
	us.put(u)
	return u, nil
}

// Delete removes users in the process: Users is the Store of a standalone instance.
func (us *Users) Delete(_ context.Context, names []string) (int, error) {
	us.mu.Lock()
	defer us.mu.Unlock()
	n := 0
	for _, name := range names {
		if us.remove(name) {
			n++
		}
	}
	return n, nil
}

// Apply installs a user the control plane stored at revision rev, unless a later
// revision of it was applied already.
func (us *Users) Apply(name string, rules []string, rev int64) error {
	u, err := NewUser(name, us.catalog).With(rules...)
	if err != nil {
		return err
	}
	us.mu.Lock()
	defer us.mu.Unlock()
	if rev <= us.revs[name] {
		return nil
	}
	us.revs[name] = rev
	us.put(u)
	return nil
}

// Remove deletes a user the control plane deleted at revision rev, unless a later
// revision of it was applied already.
func (us *Users) Remove(name string, rev int64) {
	us.mu.Lock()
	defer us.mu.Unlock()
	if rev <= us.revs[name] {
		return
	}
	us.revs[name] = rev
	us.remove(name)
}

// Names are the names of the users other than the default user.
func (us *Users) Names() []string {
	us.mu.Lock()
	defer us.mu.Unlock()
	out := make([]string, 0, len(us.byName))
	for name := range us.byName {
		if name != DefaultUser {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
