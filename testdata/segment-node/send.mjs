// Sends a fixed set of events to Tributary with Segment's own Node SDK.
// Usage: node send.mjs <base URL> <write key> <prefix> <n users>
// Prints one JSON line: {"sent": N, "messageIds": [...]}.
import { Analytics } from '@segment/analytics-node'

const [host, writeKey, prefix, nArg] = process.argv.slice(2)
const n = Number(nArg || 5)
const analytics = new Analytics({ writeKey, host, path: '/v1/batch', flushAt: 20, flushInterval: 50, maxRetries: 3 })
const ids = []
let failed = 0
analytics.on('error', (err) => { failed++; console.error('sdk error', err?.reason ?? err) })
const id = (k) => { const m = `${prefix}-${k}`; ids.push(m); return m }

for (let i = 0; i < n; i++) {
  const userId = `${prefix}-user-${i}`
  const anonymousId = `${prefix}-anon-${i}`
  analytics.page({ anonymousId, name: 'Home', properties: { path: '/' }, messageId: id(`page-${i}`) })
  analytics.identify({ userId, anonymousId, traits: { email: `User${i}@Example.com`, plan: 'pro' }, messageId: id(`identify-${i}`) })
  analytics.track({ userId, event: 'Order Completed', properties: { revenue: 10 + i, currency: 'USD' }, messageId: id(`track-${i}`) })
  analytics.screen({ userId, name: 'Cart', messageId: id(`screen-${i}`) })
  analytics.group({ userId, groupId: `${prefix}-org-${i % 2}`, traits: { name: 'Acme' }, messageId: id(`group-${i}`) })
  analytics.alias({ userId, previousId: anonymousId, messageId: id(`alias-${i}`) })
}
await analytics.closeAndFlush({ timeout: 20000 })
console.log(JSON.stringify({ sent: ids.length, failed, messageIds: ids }))
process.exit(failed ? 1 : 0)
