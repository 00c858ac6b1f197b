package poolmgr

import "errors"

// errSubscriberTooSlow ends an instance watch whose reader fell behind.
var errSubscriberTooSlow = errors.New("instance watcher fell behind")

// errPoolClosed fails waiters of an environment's pool that was replaced or
// deleted while they waited.
var errPoolClosed = errors.New("the environment was changed or deleted")
