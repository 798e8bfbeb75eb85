// Starts the reference TypeScript PDS (@atproto/pds, installed by scripts/refpds.sh) from its own
// PDS_* environment variables, passed straight through to the package's readEnv(). Prints
// `ready on port N` once listening; on SIGTERM or SIGINT it awaits pds.destroy() and exits 0.
//
// Usage: NODE_PATH=<refpds>/js/node_modules PDS_PORT=... PDS_DATA_DIRECTORY=... node run.mjs
// (the testbed compiles this file in and runs it with `node --input-type=module --eval`).
// Required: PDS_DATA_DIRECTORY, PDS_DID_PLC_URL, PDS_JWT_SECRET, PDS_ADMIN_PASSWORD,
// PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX. Defaulted here: PDS_HOSTNAME, PDS_DEV_MODE,
// PDS_INVITE_REQUIRED, PDS_BLOBSTORE_DISK_LOCATION (see below). PDS_PORT defaults to 2583.
// PDS_BIND (ours, not the package's) is the address to listen on; without it, all of them.
import http from 'node:http'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const env = process.env
const defaults = {
  // "localhost" is the one hostname the PDS serves over plain http (publicUrl http://localhost:N,
  // did:web:localhost, handle domain .test); any other (127.0.0.1 too) becomes https://<host>.
  PDS_HOSTNAME: 'localhost',
  // Without dev mode the PDS refuses to start on an http:// public URL (OAuth metadata must be
  // https) and blocks requests to loopback addresses (SSRF protection), such as our PLC.
  PDS_DEV_MODE: 'true',
  // Invite codes are required unless this is exactly false.
  PDS_INVITE_REQUIRED: 'false',
  // A blob store is mandatory (disk or S3); keep it with the rest of the data.
  ...(env.PDS_DATA_DIRECTORY && { PDS_BLOBSTORE_DISK_LOCATION: join(env.PDS_DATA_DIRECTORY, 'blobs') }),
}
for (const [k, v] of Object.entries(defaults)) env[k] ||= v

// The PDS would default to the cwd and to the real https://plc.directory; refuse both.
const required = ['PDS_DATA_DIRECTORY', 'PDS_DID_PLC_URL', 'PDS_JWT_SECRET', 'PDS_ADMIN_PASSWORD',
  'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX']
const missing = required.filter((k) => !env[k])
if (missing.length) {
  console.error(`run.mjs: missing ${missing.join(', ')}`)
  process.exit(2)
}

// The package is ESM, and ESM ignores NODE_PATH: resolve it from there (or the default install).
async function load(name) {
  const dirs = [
    ...(env.NODE_PATH || '').split(':').filter(Boolean).map((d) => join(d, '..')),
    join(env.SONDE_REFPDS_DIR || join(homedir(), '.cache/sonde-refpds'), 'js'),
  ]
  for (const dir of dirs) {
    try {
      return await import(pathToFileURL(createRequire(join(dir, 'x.js')).resolve(name)).href)
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e
    }
  }
  return import(name)
}
const { PDS, readEnv, envToCfg, envToSecrets } = await load('@atproto/pds')

// The package listens with app.listen(port), on every interface, and has no setting for the
// address; the testbed's services listen on loopback only, so give listen() the address.
if (env.PDS_BIND) {
  const listen = http.Server.prototype.listen
  http.Server.prototype.listen = function (port, ...rest) {
    const hostless = typeof port === 'number' && (rest.length === 0 || typeof rest[0] === 'function')
    return hostless ? listen.call(this, port, env.PDS_BIND, ...rest) : listen.call(this, port, ...rest)
  }
}

const pdsEnv = readEnv()
const pds = await PDS.create(envToCfg(pdsEnv), envToSecrets(pdsEnv))
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await pds.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
await pds.start()
console.log(`ready on port ${pds.server.address().port}`)
