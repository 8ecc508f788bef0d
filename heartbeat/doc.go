// Package heartbeat is Sockline's shared timer scheduler: one goroutine and one
// ticker serve the heartbeat and disconnect deadlines of every session.
//
// # Why it exists
//
// A SockJS server holds two deadlines per session (the next heartbeat frame and
// the disconnect delay). With one time.Timer or one goroutine per deadline,
// 100 000 sessions cost 200 000 runtime timers or goroutines. A [Wheel] is a
// hashed timing wheel: a fixed ring of slots, one goroutine and one
// time.Ticker for all of its timers. Arming, stopping and rescheduling a
// [Timer] are O(1); each tick scans one slot. The price is resolution: a timer
// fires on the first tick at or after its deadline, so it may run up to about
// two ticks late, never early. Heartbeats (25 s) and disconnect delays (5 s)
// do not need better than tens of milliseconds.
//
// # Lazy rechecking
//
// Callers should not Reset a timer on every message. A session records its
// last activity (for example in an atomic int64) and arms one timer for the
// earliest deadline. When the timer fires, the callback recomputes the real
// deadline from the recorded activity: if it has not passed, the callback
// re-arms the timer for the remainder; if it has, it acts (sends a heartbeat,
// expires the session). The hot path then costs one atomic store instead of a
// lock on the wheel.
//
// # Concurrency contract
//
//   - [Wheel.AfterFunc], [Wheel.Len], [Wheel.Close], [Timer.Stop] and
//     [Timer.Reset] are safe to call from any goroutine, concurrently with each
//     other and with the wheel's ticking.
//   - Callbacks run one after another on the wheel's goroutine, without any
//     lock held, so a callback may call AfterFunc, Stop or Reset on any timer,
//     including its own. Callbacks must be quick and must never block: every
//     other timer of the wheel waits for them. The usual callback sets a flag
//     or does a non-blocking send on a channel to wake the goroutine that does
//     the work.
//   - The wheel collects the timers due on a tick under its lock, then runs
//     their callbacks after unlocking. A Stop that lands in between returns
//     false and the callback still runs, as with time.AfterFunc. A Reset in
//     that window returns false and re-arms the timer, so the callback runs
//     for the old deadline and again for the new one. Callers that must not act
//     twice check their own state in the callback.
//   - Timers due on the same tick run in no particular order.
//   - If the ticker falls behind (a GC pause, a descheduled process), the next
//     tick processes every missed tick's slot; no timer is skipped.
//   - The goroutine starts with the first pending timer and exits once none is
//     pending, so an idle wheel costs no goroutine and no ticker. After
//     [Wheel.Close] pending timers never fire, and timers armed later never
//     fire either. Close does not wait for a callback that is already running.
package heartbeat
