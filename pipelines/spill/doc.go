// Package spill is the engine's shared facility for state that may outgrow
// the run's memory budget (--memory): barrier stages (mixer.weights,
// curriculum.order, dedup.paragraph) and large indexes build on it.
//
// It offers three pieces:
//
//   - Records, an append-only spill of Arrow record batches as Arrow IPC
//     files in a private folder. Every appended row gets a row number (its
//     position in append order), which is all a stage needs to keep in memory
//     to find the row again.
//   - Sorter, an external sort of small fixed-size entries (key bytes and
//     value bytes). Entries stay in memory while the budget grants
//     reservations and go to sorted run files when it does not; iteration is
//     a k-way merge. Equal keys come back in insertion order, so the order
//     never depends on timing or worker count.
//   - Gather, which turns a sequence of row numbers (an output order, rows
//     possibly repeated) into record batches in that order, reading the
//     spilled rows back batch-wise in bounded memory instead of row by row.
//
// Everything a spill writes goes through package storage and is removed by
// Close. None of the types is safe for concurrent use: each belongs to one
// stage, which calls it from one goroutine.
package spill
