package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNoRules is returned by ReviewWrite and ReviewDelete for a kind the
// controller does not serve.
var ErrNoRules = errors.New("controller: no rules for this kind")

// reviewer applies one kind's rules to an object written outside the REST
// API.
type reviewer interface {
	kindName() string
	reviewWrite(ctx context.Context, value []byte) error
	reviewDelete(ctx context.Context, value []byte) error
}

// ReviewWrite checks a create or an update of an object written outside
// the REST API (with kubectl, asked by the API server's admission webhook)
// by the rules the REST API applies to its own writes: the same
// validation, the same reference checks (a function's environment, a
// trigger's function), the same errors. value is the object in the API's
// JSON form (what kubestore.APICodec decodes a custom resource to). It
// returns nil when the write may go on, ErrNoRules for a kind the
// controller does not serve, and otherwise an error httpx.Classify turns
// into the REST API's 400.
func (c *Controller) ReviewWrite(ctx context.Context, kind string, value []byte) error {
	k, ok := c.kinds[kind]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoRules, kind)
	}
	return k.reviewWrite(ctx, value)
}

// ReviewDelete checks a delete made outside the REST API by the REST API's
// rules: an environment functions use, or a function triggers call, stays
// (the REST API's 409). value is the object being deleted, in the API's
// JSON form. Errors are as ReviewWrite's.
func (c *Controller) ReviewDelete(ctx context.Context, kind string, value []byte) error {
	k, ok := c.kinds[kind]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoRules, kind)
	}
	return k.reviewDelete(ctx, value)
}

func (k *kind[T, P]) kindName() string { return k.name }

// unmarshal decodes value leniently: a custom resource may carry fields the
// API does not know (status), which are not the API's to refuse.
func (k *kind[T, P]) unmarshal(value []byte) (P, error) {
	var obj P = new(T)
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", lower(k.name), err)
	}
	obj.SetDefaults()
	return obj, nil
}

func (k *kind[T, P]) reviewWrite(ctx context.Context, value []byte) error {
	obj, err := k.unmarshal(value)
	if err != nil {
		return err
	}
	if err := obj.Validate(); err != nil {
		return err
	}
	return k.checkRefs(ctx, obj)
}

func (k *kind[T, P]) reviewDelete(ctx context.Context, value []byte) error {
	obj, err := k.unmarshal(value)
	if err != nil || k.beforeDelete == nil {
		return err
	}
	return k.beforeDelete(ctx, obj)
}

// checkRefs runs the kind's reference checks, if it has any.
func (k *kind[T, P]) checkRefs(ctx context.Context, obj P) error {
	if k.check == nil {
		return nil
	}
	return k.check(ctx, obj)
}
