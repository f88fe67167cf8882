// Hocuspocus 3.4.4 with no extensions (in memory, nothing stored), as a reference server.
// Usage: node bench/servers/hocuspocus.mjs <port>
import { Server } from '@hocuspocus/server'

const port = Number(process.argv[2] || 8767)
const server = new Server({ port, address: '127.0.0.1', quiet: true, stopOnSignals: true })
await server.listen()
console.log(`hocuspocus listening on 127.0.0.1:${port}`)
