package api

// Kinds lists every kind the controller stores, in the order a full list
// or a resync walks them.
var Kinds = []string{KindEnvironment, KindFunction, KindHTTPTrigger, KindTimeTrigger, KindMessageQueueTrigger}

// NewObject returns an empty object of kind, to decode into; false for a
// kind the controller does not store.
func NewObject(kind string) (Object, bool) {
	switch kind {
	case KindEnvironment:
		return &Environment{}, true
	case KindFunction:
		return &Function{}, true
	case KindHTTPTrigger:
		return &HTTPTrigger{}, true
	case KindTimeTrigger:
		return &TimeTrigger{}, true
	case KindMessageQueueTrigger:
		return &MessageQueueTrigger{}, true
	}
	return nil, false
}
