package weft

// CodeScheduleNotFound answers a schedule.* request for a schedule id that
// does not exist or belongs to another workspace (an addition to
// PROTOCOL.md section 7, documented in docs/protocol-notes.md). Not
// retryable; over HTTP it is 404 like every *_NOT_FOUND code.
const CodeScheduleNotFound Code = "SCHEDULE_NOT_FOUND"
