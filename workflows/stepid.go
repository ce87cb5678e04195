package workflows

import (
	"cmp"
	"strconv"
	"strings"
)

// CompareStepIDs orders positional step ids as the code calls them:
// "2" < "10", "3" < "3.1" < "4". Ids that are not positional ("patch:x")
// compare as text.
func CompareStepIDs(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
			continue
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}
