package router

import (
	"context"
	"testing"

	"github.com/cubbyhq/cubby/auth"
)

var _ auth.ValueHolder = (*infoContext)(nil)

type heldKey struct{}
type otherKey struct{}

// A request's context holds one value more, for whoever asks first, and
// answers every other key as before.
func TestInfoContextHoldsOneValue(t *testing.T) {
	parent := context.WithValue(context.Background(), otherKey{}, "parent's")
	info := &requestInfo{}
	c := &infoContext{Context: parent, info: info}
	if c.Value(heldKey{}) != nil {
		t.Fatal("a value held before any was")
	}
	if c.HoldValue(nil, 1) || c.HoldValue([]int{1}, 1) {
		t.Fatal("held a value under a nil or uncomparable key")
	}
	if !c.HoldValue(heldKey{}, 1) {
		t.Fatal("the first value was refused")
	}
	if c.HoldValue(otherKey{}, 2) || c.HoldValue(heldKey{}, 3) {
		t.Fatal("a second value was held")
	}
	if got := c.Value(heldKey{}); got != 1 {
		t.Errorf("held value %v; want 1", got)
	}
	if got := c.Value(otherKey{}); got != "parent's" {
		t.Errorf("parent's value %v", got)
	}
	if got := c.Value(infoKey); got != info {
		t.Errorf("info %v", got)
	}
	if got := c.Value([]int{1}); got != nil {
		t.Errorf("an uncomparable key answered %v", got)
	}
}
