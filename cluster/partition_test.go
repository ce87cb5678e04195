package cluster_test

import (
	"testing"

	"github.com/weft-run/weft/cluster"
)

// The partition of an execution must never change between versions: nodes
// of two versions share one cluster during a rolling upgrade. The first
// two rows are FNV-1a's published test vectors (offset basis, "a").
func TestPartitionOfIsStable(t *testing.T) {
	tests := []struct {
		id         string
		partitions int
		want       int
	}{
		{"", 64, 0x811c9dc5 % 64},
		{"a", 64, 0xe40c292c % 64},
		{"exec_01hzy3k9q8", 64, 9},
		{"exec_01hzy3k9q9", 64, 54},
		{"exec_01hzy3k9q8", 256, 201},
		{"exec_01hzy3k9q8", 7, 1},
		{"exec_01hzy3k9q8", 1, 0},
		{"héllo", 64, 0},
	}
	for _, tt := range tests {
		if got := cluster.PartitionOf(tt.id, tt.partitions); got != tt.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", tt.id, tt.partitions, got, tt.want)
		}
	}
}

// Ids spread over every partition, none far from the mean: the hash does
// not favour a few partitions.
func TestPartitionOfSpreads(t *testing.T) {
	const partitions, ids = 64, 64_000
	counts := make([]int, partitions)
	for i := range ids {
		counts[cluster.PartitionOf(fmtID(i), partitions)]++
	}
	mean := ids / partitions
	for p, c := range counts {
		if c < mean*8/10 || c > mean*12/10 {
			t.Errorf("partition %d has %d ids, mean %d", p, c, mean)
		}
	}
}

func fmtID(i int) string {
	const digits = "0123456789abcdefghjkmnpqrstvwxyz"
	b := []byte("exec_0000")
	for j := len(b) - 1; i > 0; j-- {
		b[j] = digits[i%32]
		i /= 32
	}
	return string(b)
}

func TestPartitionOfRefusesNoPartitions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PartitionOf(id, 0) did not panic")
		}
	}()
	cluster.PartitionOf("x", 0)
}
