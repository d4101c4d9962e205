// Package benchmarks measures eventlog side by side with other Go storage
// libraries on the same records, in the same run. It is a module of its own
// so that the core library does not depend on the libraries it is compared
// with. It has no API: see its tests and BENCHMARKS.md at the repository's
// root.
package benchmarks
