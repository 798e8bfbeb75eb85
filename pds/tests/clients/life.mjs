// The life of an account on our PDS, driven by the official TypeScript client (@atproto/api's
// AtpAgent, @atproto/identity's DidResolver) the way a new user's app would: describeServer,
// createAccount, login, sessions, an image post, like, follow, profile edit, deletes, list/get,
// refresh and resume, app passwords, deactivate/activate, sync, handle and DID resolution,
// updateHandle, the lexicon error names the client exposes, and finally deleteAccount.
//
// Usage: node life.mjs [PDS_URL] [PLC_URL]   (or env PDS_URL, PLC_URL; optional ADMIN_PASSWORD and
// PDS_MAIL_OUTBOX or PDS_DATA_DIRECTORY, to finish the account deletion)
// Needs Node >= 22 and the packages that scripts/clients.sh installs (found through NODE_PATH,
// SONDE_CLIENTS_DIR or ~/.cache/sonde-clients/js). Prints `ok <step>`, `FAIL <step>: ...`,
// `SKIP <step>: ...` or `GAP <step>: ...` (a known unimplemented method); exits 1 on any FAIL
// (GAPs fail too when STRICT_GAPS=1). TRACE=1 prints every HTTP exchange.
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import { deflateSync } from 'node:zlib'

if (+process.versions.node.split('.')[0] < 22) {
  console.error(`life.mjs needs Node >= 22 (this is ${process.version}); scripts/clients.sh installs one`)
  process.exit(2)
}
const PDS_URL = process.argv[2] || process.env.PDS_URL || 'http://localhost:2583'
const PLC_URL = process.argv[3] || process.env.PLC_URL || 'http://localhost:2582'
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD

// Load the client libraries from where scripts/clients.sh put them (ESM ignores NODE_PATH).
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
const { AtpAgent, XRPCError } = await load('@atproto/api')
const { DidResolver, getPds, getHandle } = await load('@atproto/identity')

// ---- step bookkeeping and an HTTP log so a failure shows what our PDS answered
const counts = { ok: 0, fail: 0, skip: 0, gap: 0 }
const gaps = []
const http = []
class Skip extends Error {}
class Gap extends Error {}
class CheckFailed extends Error {}

async function loggingFetch(input, init = {}) {
  const method = init.method || input.method || 'GET'
  const url = String(input.url || input)
  const body = init.body
  const reqBody =
    typeof body === 'string' ? body : body ? `<${body.byteLength ?? body.size ?? '?'} bytes>` : ''
  const res = await fetch(input, init)
  const ct = res.headers.get('content-type') || ''
  const buf = Buffer.from(await res.clone().arrayBuffer())
  const resBody = /json|text/.test(ct) ? buf.toString('utf8') : `<${buf.length} bytes ${ct}>`
  const h = { method, url: url.replace(/^https?:\/\/[^/]+/, ''), status: res.status, reqBody, resBody }
  http.push(h)
  if (process.env.TRACE) console.log(`    > ${h.method} ${h.url} ${cut(h.reqBody, 300)}\n    < ${h.status} ${cut(h.resBody, 300)}`)
  return res
}

function cut(s, n = 500) {
  return s.length > n ? s.slice(0, n) + '…' : s
}

async function step(name, fn) {
  const mark = http.length
  try {
    const value = await fn()
    counts.ok++
    console.log(`ok ${name}`)
    return value
  } catch (e) {
    if (e instanceof Skip) {
      counts.skip++
      console.log(`SKIP ${name}: ${e.message}`)
      return undefined
    }
    if (e instanceof Gap) {
      counts.gap++
      gaps.push(name)
      console.log(`GAP ${name}: ${e.message}`)
      return undefined
    }
    counts.fail++
    const what =
      e instanceof XRPCError ? `${e.constructor.name} status=${e.status} error=${e.error} message=${e.message}`
      : e instanceof CheckFailed ? e.message
      : e?.stack || String(e)
    console.log(`FAIL ${name}: ${what}`)
    for (const h of http.slice(mark).slice(-2)) {
      console.log(`    ${h.method} ${cut(h.url, 200)} -> ${h.status} ${cut(h.resBody)}`)
      if (h.reqBody) console.log(`      request body: ${cut(h.reqBody)}`)
    }
    return undefined
  }
}

function check(cond, msg) {
  if (!cond) throw new CheckFailed(msg)
}
function need(...values) {
  if (values.some((v) => v === undefined)) throw new Skip('needs an earlier step that failed')
}
// Awaits `p` expecting an XRPC error named `name` (and HTTP `status` if given).
async function expectError(p, name, status) {
  let res
  try {
    res = await p
  } catch (e) {
    if (!(e instanceof XRPCError)) throw e
    check(e.error === name, `expected error ${name}, client saw error=${e.error} status=${e.status} (${e.message})`)
    if (status) check(e.status === status, `expected HTTP ${status} for ${name}, got ${e.status}`)
    return e
  }
  throw new CheckFailed(`expected error ${name}, but the call succeeded: ${cut(JSON.stringify(res?.data ?? res))}`)
}

// A real 8x8 RGB PNG (gradient), built here.
function png() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    for (let k = 0; k < 8; k++) n = n & 1 ? 0xedb88320 ^ (n >>> 1) : n >>> 1
    return n >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length)
    out.writeUInt32BE(data.length, 0)
    out.write(type, 4, 'ascii')
    data.copy(out, 8)
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length)
    return out
  }
  const w = 8
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(w, 4)
  ihdr.set([8, 2, 0, 0, 0], 8) // 8-bit RGB
  const rows = []
  for (let y = 0; y < w; y++) {
    rows.push(0) // filter: none
    for (let x = 0; x < w; x++) rows.push(x * 32, y * 32, 128)
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

const newAgent = () => new AtpAgent({ service: PDS_URL, fetch: loggingFetch })
const rand = () => 'u' + randomBytes(5).toString('hex')

// ---------------------------------------------------------------- the life
console.log(`# @atproto/api against PDS ${PDS_URL}, PLC ${PLC_URL}`)
const alice = newAgent()
const bob = newAgent()
const aliceHandle = `${rand()}.test`
const bobHandle = `${rand()}.test`
const password = 'correct horse ' + rand()
let aliceDid, bobDid

await step('describeServer', async () => {
  const { data } = await alice.com.atproto.server.describeServer()
  check(Array.isArray(data.availableUserDomains) && data.availableUserDomains.includes('.test'),
    `availableUserDomains ${JSON.stringify(data.availableUserDomains)} lacks .test`)
  check(data.did?.startsWith('did:'), `did ${data.did}`)
})

await step('createAccount', async () => {
  const { data } = await alice.createAccount({ handle: aliceHandle, email: `${aliceHandle}@example.com`, password })
  check(data.did.startsWith('did:plc:'), `did ${data.did}`)
  check(data.handle === aliceHandle, `handle ${data.handle}`)
  check(alice.hasSession && alice.session.accessJwt, 'agent has no session after createAccount')
  aliceDid = data.did
})

await step('createAccount second user', async () => {
  const { data } = await bob.createAccount({ handle: bobHandle, email: `${bobHandle}@example.com`, password })
  bobDid = data.did
})

await step('login', async () => {
  const a = newAgent()
  const { data } = await a.login({ identifier: aliceHandle, password })
  check(data.did === aliceDid, `did ${data.did} != ${aliceDid}`)
  check(data.accessJwt && data.refreshJwt, 'missing tokens')
  await alice.login({ identifier: aliceHandle, password })
})

await step('login with email', async () => {
  const { data } = await newAgent().login({ identifier: `${aliceHandle}@example.com`, password })
  check(data.did === aliceDid, `did ${data.did}`)
})

await step('getSession', async () => {
  need(aliceDid)
  const { data } = await alice.com.atproto.server.getSession()
  check(data.did === aliceDid && data.handle === aliceHandle, `session ${JSON.stringify(data)}`)
  check(data.email === `${aliceHandle}@example.com`, `email ${data.email}`)
  check(data.active !== false, `active ${data.active}`)
})

const image = png()
const blob = await step('uploadBlob', async () => {
  const { data } = await alice.uploadBlob(image, { encoding: 'image/png' })
  check(data.blob.mimeType === 'image/png', `mimeType ${data.blob.mimeType}`)
  check(data.blob.size === image.length, `size ${data.blob.size} != ${image.length}`)
  return data.blob
})

const post = await step('post with image embed', async () => {
  need(blob)
  const text = 'hello from the official client #sonde'
  const tag = Buffer.byteLength('hello from the official client ')
  return await alice.post({
    text,
    facets: [{ index: { byteStart: tag, byteEnd: tag + 6 }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'sonde' }] }],
    embed: { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: 'gradient', aspectRatio: { width: 8, height: 8 } }] },
    createdAt: new Date().toISOString(),
  })
})

await step('getRecord post', async () => {
  need(post)
  const rkey = post.uri.split('/').pop()
  const { data } = await alice.com.atproto.repo.getRecord({ repo: aliceDid, collection: 'app.bsky.feed.post', rkey })
  check(data.cid === post.cid, `cid ${data.cid} != ${post.cid}`)
  const img = data.value.embed?.images?.[0]?.image
  check(img && String(img.ref) === String(blob.ref), `embed blob ${JSON.stringify(img)}`)
})

await step('sync.getBlob', async () => {
  need(blob)
  const { data } = await alice.com.atproto.sync.getBlob({ did: aliceDid, cid: String(blob.ref) })
  check(Buffer.from(data).equals(image), `got ${data.length} bytes back, not the PNG`)
})

const like = await step('like', async () => {
  need(post)
  return await alice.like(post.uri, post.cid)
})

const follow = await step('follow', async () => {
  need(bobDid)
  return await alice.follow(bobDid)
})

await step('putRecord profile (upsertProfile create)', async () => {
  await alice.upsertProfile((p) => ({ ...p, displayName: 'Alice', description: 'first' }))
})

await step('putRecord profile (upsertProfile edit with swapRecord)', async () => {
  await alice.upsertProfile((p) => ({ ...p, displayName: 'Alice Edited' }))
  const { data } = await alice.com.atproto.repo.getRecord({ repo: aliceDid, collection: 'app.bsky.actor.profile', rkey: 'self' })
  check(data.value.displayName === 'Alice Edited' && data.value.description === 'first', JSON.stringify(data.value))
})

await step('putRecord stale swapRecord -> InvalidSwap', async () => {
  need(aliceDid)
  await expectError(alice.com.atproto.repo.putRecord({
    repo: aliceDid, collection: 'app.bsky.actor.profile', rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: 'x' },
    swapRecord: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm',
  }), 'InvalidSwap', 400)
})

await step('deleteRecord (unlike)', async () => {
  need(like)
  await alice.deleteLike(like.uri)
})

await step('getRecord deleted -> RecordNotFound', async () => {
  need(like)
  await expectError(alice.com.atproto.repo.getRecord({ repo: aliceDid, collection: 'app.bsky.feed.like', rkey: like.uri.split('/').pop() }), 'RecordNotFound', 400)
})

await step('listRecords', async () => {
  need(post, follow)
  const posts = (await alice.com.atproto.repo.listRecords({ repo: aliceDid, collection: 'app.bsky.feed.post' })).data
  check(posts.records.length === 1 && posts.records[0].uri === post.uri, `posts ${JSON.stringify(posts)}`)
  const likes = (await alice.com.atproto.repo.listRecords({ repo: aliceDid, collection: 'app.bsky.feed.like' })).data
  check(likes.records.length === 0, `likes after delete ${likes.records.length}`)
  const follows = (await alice.com.atproto.repo.listRecords({ repo: aliceHandle, collection: 'app.bsky.graph.follow', limit: 10 })).data
  check(follows.records.length === 1 && follows.records[0].value.subject === bobDid, `follows ${JSON.stringify(follows)}`)
})

await step('describeRepo', async () => {
  need(aliceDid)
  const { data } = await alice.com.atproto.repo.describeRepo({ repo: aliceDid })
  check(data.handle === aliceHandle && data.did === aliceDid && data.handleIsCorrect === true, JSON.stringify(data))
  for (const c of ['app.bsky.feed.post', 'app.bsky.graph.follow', 'app.bsky.actor.profile'])
    check(data.collections.includes(c), `collections ${data.collections} lack ${c}`)
})

await step('applyWrites create+update+delete', async () => {
  need(aliceDid)
  const rec = (text) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })
  const w = (op, rkey, value) => ({ $type: `com.atproto.repo.applyWrites#${op}`, collection: 'app.bsky.feed.post', rkey, ...(value ? { value } : {}) })
  const { data } = await alice.com.atproto.repo.applyWrites({ repo: aliceDid, writes: [w('create', '3kaaaaaaaaa22', rec('a')), w('create', '3kaaaaaaaaa23', rec('b'))] })
  check(data.results?.length === 2 && data.commit?.cid, `applyWrites output ${JSON.stringify(data)}`)
  await alice.com.atproto.repo.applyWrites({ repo: aliceDid, writes: [w('update', '3kaaaaaaaaa22', rec('a2')), w('delete', '3kaaaaaaaaa23')] })
  const { data: got } = await alice.com.atproto.repo.getRecord({ repo: aliceDid, collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaa22' })
  check(got.value.text === 'a2', `updated text ${got.value.text}`)
  await alice.com.atproto.repo.deleteRecord({ repo: aliceDid, collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaa22' })
})

await step('refreshSession', async () => {
  need(aliceDid)
  const before = alice.session.refreshJwt
  await alice.sessionManager.refreshSession()
  check(alice.session.refreshJwt !== before, 'refresh token not rotated')
  await alice.com.atproto.server.getSession()
})

await step('resumeSession on a new agent', async () => {
  need(alice.session)
  const resumed = newAgent()
  await resumed.resumeSession({ ...alice.session })
  check(resumed.did === aliceDid, `resumed did ${resumed.did}`)
  const { data } = await resumed.com.atproto.server.getSession()
  check(data.did === aliceDid, `getSession after resume ${data.did}`)
  Object.assign(alice.sessionManager.session, resumed.session) // keep alice on the live tokens
})

const appPw = await step('createAppPassword', async () => {
  const { data } = await alice.com.atproto.server.createAppPassword({ name: 'life-test' })
  check(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/.test(data.password), `app password format ${data.password}`)
  check(data.name === 'life-test', `name ${data.name}`)
  return data.password
})

await step('login with app password', async () => {
  need(appPw)
  const a = newAgent()
  const { data } = await a.login({ identifier: aliceHandle, password: appPw })
  check(data.did === aliceDid, `did ${data.did}`)
  await a.post({ text: 'posted with an app password' })
  const e = await expectError(a.com.atproto.server.createAppPassword({ name: 'nested' }), 'InvalidToken')
    .catch((e) => { throw new CheckFailed(`app-password session creating an app password: ${e.message}`) })
  console.log(`    (app-password session refused createAppPassword with ${e.status} ${e.error})`)
})

await step('listAppPasswords', async () => {
  need(appPw)
  const { data } = await alice.com.atproto.server.listAppPasswords()
  check(data.passwords.length === 1 && data.passwords[0].name === 'life-test', JSON.stringify(data))
})

await step('revokeAppPassword', async () => {
  need(appPw)
  await alice.com.atproto.server.revokeAppPassword({ name: 'life-test' })
  const { data } = await alice.com.atproto.server.listAppPasswords()
  check(data.passwords.length === 0, `still listed ${JSON.stringify(data)}`)
  await expectError(newAgent().login({ identifier: aliceHandle, password: appPw }), 'AuthenticationRequired', 401)
})

await step('logout (deleteSession) invalidates the refresh token', async () => {
  need(aliceDid)
  const a = newAgent()
  await a.login({ identifier: aliceHandle, password })
  const { refreshJwt } = a.session
  await a.logout()
  check(!a.hasSession, 'agent still has a session')
  const headers = { authorization: `Bearer ${refreshJwt}` }
  await expectError(newAgent().com.atproto.server.refreshSession(undefined, { headers }), 'ExpiredToken')
})

// The reference PDS stores preferences itself, but registers the two methods only when an
// appview is configured; without one it answers MethodNotImplemented as well (a GAP here).
await step('preferences (app.bsky.actor.putPreferences/getPreferences)', async () => {
  need(aliceDid)
  const pref = { $type: 'app.bsky.actor.defs#adultContentPref', enabled: false }
  try {
    await alice.app.bsky.actor.putPreferences({ preferences: [pref] })
  } catch (e) {
    if (e instanceof XRPCError && e.error === 'MethodNotImplemented')
      throw new Gap('putPreferences answers 501 MethodNotImplemented (the reference PDS too, when no appview is configured; with one it stores them itself)')
    throw e
  }
  const { data } = await alice.app.bsky.actor.getPreferences()
  check(data.preferences.length === 1 && data.preferences[0].enabled === false, JSON.stringify(data))
})

await step('deactivateAccount', async () => {
  need(aliceDid)
  await alice.com.atproto.server.deactivateAccount({})
})

await step('checkAccountStatus while deactivated', async () => {
  need(aliceDid)
  const { data } = await alice.com.atproto.server.checkAccountStatus()
  check(data.activated === false, `activated ${data.activated}`)
  check(typeof data.repoCommit === 'string' && typeof data.repoRev === 'string', JSON.stringify(data))
})

await step('getSession while deactivated says active=false status=deactivated', async () => {
  need(aliceDid)
  const { data } = await alice.com.atproto.server.getSession()
  check(data.active === false && data.status === 'deactivated', `active=${data.active} status=${data.status}`)
})

await step('write while deactivated is refused', async () => {
  need(aliceDid)
  try {
    await alice.post({ text: 'should not land' })
  } catch (e) {
    if (e instanceof XRPCError) return console.log(`    (refused with ${e.status} ${e.error})`)
    throw e
  }
  throw new CheckFailed('createRecord succeeded on a deactivated account')
})

await step('activateAccount', async () => {
  need(aliceDid)
  await alice.com.atproto.server.activateAccount()
  const { data } = await alice.com.atproto.server.checkAccountStatus()
  check(data.activated === true, `activated ${data.activated}`)
})

await step('sync.getLatestCommit', async () => {
  need(aliceDid)
  const { data } = await alice.com.atproto.sync.getLatestCommit({ did: aliceDid })
  check(data.cid?.startsWith('bafy') && /^[a-z2-7]{13}$/.test(data.rev), JSON.stringify(data))
})

// Number of blocks in a CAR v1 file: sections are varint(length) + CID + data after the header.
function carBlockCount(bytes) {
  let pos = 0
  const varint = () => {
    let n = 0
    for (let shift = 0; ; shift += 7) {
      const b = bytes[pos++]
      n += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return n
    }
  }
  const skip = () => {
    const len = varint()
    pos += len
  }
  skip() // header
  let count = 0
  for (; pos < bytes.length; count++) skip()
  return count
}

const repoCar = await step('sync.getRepo', async () => {
  need(aliceDid)
  const { data, headers } = await alice.com.atproto.sync.getRepo({ did: aliceDid })
  check(data instanceof Uint8Array && data.length > 100, `getRepo returned ${typeof data} of ${data?.length}`)
  check((headers['content-type'] || '').startsWith('application/vnd.ipld.car'), `content-type ${headers['content-type']}`)
  return data
})

await step("checkAccountStatus.repoBlocks counts this repo's blocks", async () => {
  need(repoCar)
  const { data } = await alice.com.atproto.server.checkAccountStatus()
  const blocks = carBlockCount(repoCar)
  check(data.repoBlocks === blocks, `repoBlocks ${data.repoBlocks}, but the repo's CAR export has ${blocks} blocks`)
})

await step('resolveHandle', async () => {
  need(aliceDid)
  const { data } = await alice.com.atproto.identity.resolveHandle({ handle: aliceHandle })
  check(data.did === aliceDid, `did ${data.did}`)
})

const resolver = new DidResolver({ plcUrl: PLC_URL, fetch: globalThis.fetch }) // default fetch refuses loopback
await step('DidResolver(plcUrl) resolves the DID', async () => {
  need(aliceDid)
  const doc = await resolver.ensureResolve(aliceDid, true)
  check(getPds(doc) === new URL(alice.pdsUrl ?? PDS_URL).origin, `PDS endpoint ${getPds(doc)} vs ${alice.pdsUrl ?? PDS_URL}`)
  check(getHandle(doc) === aliceHandle, `handle in doc ${getHandle(doc)}`)
  const data = await resolver.resolveAtprotoData(aliceDid, true)
  check(data.signingKey.startsWith('did:key:z'), `signingKey ${data.signingKey}`)
})

const newHandle = `${rand()}.test`
await step('updateHandle', async () => {
  need(aliceDid)
  await alice.com.atproto.identity.updateHandle({ handle: newHandle })
  const { data } = await alice.com.atproto.identity.resolveHandle({ handle: newHandle })
  check(data.did === aliceDid, `new handle resolves to ${data.did}`)
  await expectError(alice.com.atproto.identity.resolveHandle({ handle: aliceHandle }), 'HandleNotFound')
    .catch((e) => { throw new CheckFailed(`old handle: ${e.message}`) })
  const s = (await alice.com.atproto.server.getSession()).data
  check(s.handle === newHandle, `getSession handle ${s.handle}`)
  check(getHandle(await resolver.ensureResolve(aliceDid, true)) === newHandle, 'PLC doc handle not updated')
})

// ---- error paths as the client exposes them
await step('wrong password -> AuthenticationRequired', async () => {
  await expectError(newAgent().login({ identifier: newHandle, password: 'wrong' }), 'AuthenticationRequired', 401)
})

await step('getRecord missing -> RecordNotFound', async () => {
  need(aliceDid)
  const e = await expectError(alice.com.atproto.repo.getRecord({ repo: aliceDid, collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a' }), 'RecordNotFound', 400)
  check(e.constructor.name === 'RecordNotFoundError', `client error class ${e.constructor.name}`)
})

await step('createAccount taken handle -> HandleNotAvailable', async () => {
  need(bobDid)
  await expectError(newAgent().createAccount({ handle: bobHandle, email: `${rand()}@example.com`, password }), 'HandleNotAvailable', 400)
})

await step("write to another account's repo is refused", async () => {
  need(bobDid)
  try {
    await alice.com.atproto.repo.createRecord({ repo: bobDid, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'intrusion', createdAt: new Date().toISOString() } })
  } catch (e) {
    if (!(e instanceof XRPCError)) throw e
    console.log(`    (refused with ${e.status} ${e.error})`)
    check(e.status === 401 || e.status === 403, `status ${e.status}`)
    return
  }
  throw new CheckFailed('createRecord into another repo succeeded')
})

// ---- the end of the account
// The deletion token goes by email; our PDS can write mail to <data>/mail-outbox/ instead of
// sending it, so with PDS_MAIL_OUTBOX (or PDS_DATA_DIRECTORY) the script reads the token there.
const outbox = process.env.PDS_MAIL_OUTBOX || (process.env.PDS_DATA_DIRECTORY && join(process.env.PDS_DATA_DIRECTORY, 'mail-outbox'))
async function mailedToken(to, since) {
  const { readdirSync, readFileSync, statSync } = await import('node:fs')
  for (let i = 0; i < 50; i++) {
    for (const f of readdirSync(outbox).map((f) => join(outbox, f))) {
      if (statSync(f).mtimeMs < since) continue
      const mail = readFileSync(f, 'utf8').replace(/=\r?\n/g, '') // undo quoted-printable soft breaks
      const [head, ...body] = mail.split(/\r?\n\r?\n/)
      if (!head.toLowerCase().includes(to.toLowerCase())) continue
      const m = body.join('\n').match(/\b[a-z2-7]{5}-[a-z2-7]{5}\b/i)
      if (m) return m[0]
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new CheckFailed(`no mail with a token for ${to} in ${outbox}`)
}

const deleted = await step('deleteAccount', async () => {
  need(aliceDid)
  const since = Date.now() - 1000
  try {
    await alice.com.atproto.server.requestAccountDelete()
  } catch (e) {
    if (e instanceof XRPCError && e.error === 'MethodNotImplemented')
      throw new Gap(`KNOWN GAP: our PDS answers ${e.status} MethodNotImplemented to POST /xrpc/com.atproto.server.requestAccountDelete`)
    throw e
  }
  await expectError(alice.com.atproto.server.deleteAccount({ did: aliceDid, password, token: 'aaaaa-bbbbb' }), 'InvalidToken', 400)
  if (!outbox) throw new Skip('set PDS_MAIL_OUTBOX (or PDS_DATA_DIRECTORY) so the emailed token can be read')
  const token = await mailedToken(`${aliceHandle}@example.com`, since)
  await expectError(alice.com.atproto.server.deleteAccount({ did: aliceDid, password: 'wrong', token }), 'AuthenticationRequired', 401)
    .catch((e) => { throw new CheckFailed(`wrong password: ${e.message}`) })
  await alice.com.atproto.server.deleteAccount({ did: aliceDid, password, token })
  return true
})

await step('account gone after deletion', async () => {
  need(aliceDid)
  const admin = newAgent()
  if (!deleted) {
    if (!ADMIN_PASSWORD) throw new Skip('not deleted; set ADMIN_PASSWORD to delete via com.atproto.admin.deleteAccount and check')
    admin.setHeader('authorization', 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64'))
    await admin.com.atproto.admin.deleteAccount({ did: aliceDid })
    console.log('    (deleted through com.atproto.admin.deleteAccount)')
  }
  await expectError(newAgent().login({ identifier: newHandle, password }), 'AuthenticationRequired', 401)
  await expectError(admin.com.atproto.sync.getLatestCommit({ did: aliceDid }), 'RepoNotFound', 400)
  await expectError(admin.com.atproto.identity.resolveHandle({ handle: newHandle }), 'HandleNotFound', 400)
  const gone = await admin.com.atproto.repo.getRecord({ repo: aliceDid, collection: 'app.bsky.actor.profile', rkey: 'self' })
    .then(() => null, (e) => e)
  check(gone instanceof XRPCError && gone.status === 400, `getRecord of the deleted repo: ${gone ? gone.status + ' ' + gone.error : 'record still served'}`)
})

if (gaps.length) console.log(`known gaps: ${gaps.join(', ')}`)
const strict = process.env.STRICT_GAPS === '1'
const failed = counts.fail + (strict ? counts.gap : 0)
const skipped = counts.skip + (strict ? 0 : counts.gap)
console.log(`life.mjs: ${counts.ok} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed ? 1 : 0)
