// Package kubestore is a store.Store kept in a Kubernetes API server: each
// kind is a custom resource (Lantern's are lantern.dev/v1 Environment,
// Function and HTTPTrigger, defined in charts/lantern/crds), so the objects
// are usable with kubectl as well as through the platform's API.
//
// # Versions and conflicts
//
// A record's version is the object's resourceVersion (etcd's revision, a
// number that grows with every write in the cluster). A stale version on
// Update, or an existing name on Create, is store.ErrConflict.
//
// # Watch
//
// One client-go informer per kind feeds every watcher; nothing polls. Get
// and List read the informers' cache. A write returns once its informer
// has seen it, so a Watch, Get or List that follows a write includes it.
// A Get the cache cannot answer asks the API server, so an object another
// client (kubectl) has just written is found even before its informer
// sees it; List only reads the cache.
// A change that leaves the record's value as it was (a status write, a
// field the codec does not read) moves the record's version but sends
// watchers no event.
//
// # Packages
//
// Package blobs are ConfigMaps (binaryData) named after their checksum in
// Options.BlobNamespace. A ConfigMap holds at most 1 MiB, so PutBlob
// refuses packages over MaxBlobBytes with ErrTooLarge. A Function written
// with kubectl may carry its code in spec.package.literal (base64, as
// Fission's Package literal); GetBlob serves it under its SHA-256.
package kubestore
