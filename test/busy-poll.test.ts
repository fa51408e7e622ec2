// BusyPoll: polls only within its window after a request, never when off.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { BusyPoll } from '../src/fuse/busy-poll.js'

t.test('off (0): the same handlers, nothing polls', async (t) => {
  const calls: unknown[][] = []
  const handlers = { getattr: (...args: unknown[]) => void calls.push(args) }
  const poll = new BusyPoll(0)
  const wrapped = poll.wrap(handlers)
  t.equal(wrapped, handlers)
  wrapped.getattr('/a', 1)
  t.same(calls, [['/a', 1]])
  t.notOk(poll.polling)
})

t.test('on: each request starts polling, which stops once the window has passed', async (t) => {
  const calls: unknown[][] = []
  const poll = new BusyPoll(2000)
  const wrapped = poll.wrap({
    read: (...args: unknown[]) => void calls.push(['read', ...args]),
    open: (...args: unknown[]) => void calls.push(['open', ...args]),
  })
  t.notOk(poll.polling, 'not before a request')
  wrapped.open('/f', 0)
  wrapped.read('/f', 3, 4096)
  t.same(
    calls,
    [
      ['open', '/f', 0],
      ['read', '/f', 3, 4096],
    ],
    'handlers get their arguments, in order',
  )
  t.ok(poll.polling, 'polling after a request')
  // Timers still run while it polls: the loop is not starved.
  await sleep(5)
  t.notOk(poll.polling, 'stopped 5 ms later (window 2 ms)')
  wrapped.read('/f', 3, 0)
  t.ok(poll.polling, 'a later request polls again')
  await sleep(5)
  t.notOk(poll.polling)
})
