// The indexer as the AppView of our PDS, driven by the official TypeScript client
// (@atproto/api's AtpAgent) the way the Bluesky app uses it: three accounts post, reply,
// quote, like, repost, follow and block through their PDS; then the app's reads (timeline,
// profile counts, thread structure, followers, notifications, search), which the PDS proxies
// to the indexer, must equal what was written; a delete must be reflected.
//
// Usage: PDS_URL=... node appview.mjs. Needs Node >= 22 and the packages scripts/clients.sh
// installs. Prints `ok <step>` or `FAIL <step>: ...`; exits 1 on any FAIL.
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const PDS_URL = process.env.PDS_URL
if (!PDS_URL) {
  console.error('appview.mjs: set PDS_URL')
  process.exit(2)
}

async function load(name) {
  const dirs = [
    ...(process.env.NODE_PATH || '').split(':').filter(Boolean).map((d) => join(d, '..')),
    join(process.env.SONDE_CLIENTS_DIR || join(homedir(), '.cache/sonde-clients'), 'js'),
  ]
  for (const dir of dirs) {
    try {
      return await import(pathToFileURL(createRequire(join(dir, 'x.js')).resolve(name)).href)
    } catch {}
  }
  return import(name)
}
const { AtpAgent, RichText } = await load('@atproto/api')

let failed = 0
async function step(name, f) {
  try {
    await f()
    console.log(`ok ${name}`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e?.stack || e}`)
  }
}
function check(cond, what) {
  if (!cond) throw new Error(what)
}
function same(got, want, what) {
  const g = JSON.stringify(got)
  const w = JSON.stringify(want)
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`)
}
// The indexer follows the firehose: poll until a read shows what was written.
async function eventually(what, f) {
  let last
  for (let i = 0; i < 150; i++) {
    try {
      if (await f()) return
    } catch (e) {
      last = e
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${what} never held${last ? `: ${last}` : ''}`)
}

const run = Date.now().toString(36)
async function account(name) {
  const agent = new AtpAgent({ service: PDS_URL })
  await agent.createAccount({ handle: `${name}${run}.test`, email: `${name}${run}@example.com`, password: 'pw-pw-pw' })
  return agent
}

const alice = await account('alice')
const bob = await account('bob')
const carol = await account('carol')
const did = (a) => a.session.did

let p1, r1, q1, carolLike
await step('write: post, reply, quote, like, repost, follow', async () => {
  const rt = new RichText({ text: 'hello from the official client #sonde' })
  await rt.detectFacets(alice)
  p1 = await alice.post({ text: rt.text, facets: rt.facets, createdAt: new Date().toISOString() })
  const ref = { uri: p1.uri, cid: p1.cid }
  r1 = await bob.post({ text: 'bob replies', reply: { root: ref, parent: ref }, createdAt: new Date().toISOString() })
  q1 = await bob.post({ text: 'bob quotes', embed: { $type: 'app.bsky.embed.record', record: ref }, createdAt: new Date().toISOString() })
  carolLike = await carol.like(p1.uri, p1.cid)
  await bob.like(p1.uri, p1.cid)
  await carol.repost(p1.uri, p1.cid)
  await bob.follow(did(alice))
  await carol.follow(did(alice))
  await alice.follow(did(bob))
})

await step('getProfile counts', () =>
  eventually('alice has 2 followers, 1 follow, 1 post', async () => {
    const { data } = await alice.getProfile({ actor: did(alice) })
    return data.followersCount === 2 && data.followsCount === 1 && data.postsCount === 1
  }),
)

await step('post counts', () =>
  eventually('p1 has 2 likes, 1 repost, 1 reply, 1 quote', async () => {
    const { data } = await alice.getPosts({ uris: [p1.uri] })
    const p = data.posts[0]
    return p.likeCount === 2 && p.repostCount === 1 && p.replyCount === 1 && p.quoteCount === 1
  }),
)

await step('getTimeline', async () => {
  const { data } = await alice.getTimeline({ limit: 10 })
  same(data.feed.map((f) => f.post.uri), [q1.uri, r1.uri, p1.uri], 'alice follows bob: his posts and hers, newest first')
  same(data.feed[1].reply?.parent?.uri, p1.uri, 'the reply carries its parent')
})

await step('getPostThread', async () => {
  const { data } = await alice.getPostThread({ uri: p1.uri })
  same(data.thread.post.uri, p1.uri, 'thread root')
  same(data.thread.replies.map((r) => r.post.uri), [r1.uri], 'replies')
  const up = await alice.getPostThread({ uri: r1.uri })
  same(up.data.thread.parent.post.uri, p1.uri, 'parent of the reply')
})

await step('getFollowers', async () => {
  const { data } = await alice.getFollowers({ actor: did(alice) })
  same(data.followers.map((f) => f.did).sort(), [did(bob), did(carol)].sort(), 'followers')
})

await step('listNotifications', async () => {
  const { data } = await alice.listNotifications({ limit: 50 })
  same(data.notifications.map((n) => n.reason).sort(), ['follow', 'follow', 'like', 'like', 'quote', 'reply', 'repost'], 'reasons')
  const { data: unread } = await alice.countUnreadNotifications()
  same(unread.count, 7, 'unread before updateSeen')
  await alice.updateSeenNotifications(new Date(Date.now() + 1000).toISOString())
  const { data: after } = await alice.countUnreadNotifications()
  same(after.count, 0, 'unread after updateSeen')
})

await step('searchPosts', () =>
  eventually('the post is searchable', async () => {
    const { data } = await alice.app.bsky.feed.searchPosts({ q: '#sonde' })
    return JSON.stringify(data.posts.map((p) => p.uri)) === JSON.stringify([p1.uri])
  }),
)

await step('a delete is reflected', async () => {
  await carol.deleteLike(carolLike.uri)
  await eventually('one like left', async () => {
    const { data } = await alice.getPosts({ uris: [p1.uri] })
    return data.posts[0].likeCount === 1
  })
})

console.log(failed ? `${failed} step(s) failed` : 'all steps passed')
process.exit(failed ? 1 : 0)
