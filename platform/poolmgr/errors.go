package poolmgr

import "errors"

// errSubscriberTooSlow ends an instance watch whose reader fell behind.
var errSubscriberTooSlow = errors.New("instance watcher fell behind")
