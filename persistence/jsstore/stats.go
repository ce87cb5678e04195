package jsstore

import "time"

const statsKeep = 8 * 24 * time.Hour
