// An edge whose address is known before it starts: for documents whose shell
// blocks make the edge's own keys and secrets first and start it afterwards
// (docs/tutorial.md), while the test must hand them UPDRAFT_SERVER up front.
//
// A TCP proxy listens on 127.0.0.1 at once (the address to give out); it drops
// every connection until `start()` has started the real edge (startEdge: the
// built worker in Miniflare), then relays bytes both ways unchanged, so the
// worker sees the proxy's Host and builds its URLs on that address.
import { createServer, connect } from 'node:net';
import { startEdge } from './edge.mjs';

export async function laterEdge() {
  let target;
  const sockets = new Set();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (!target) return client.destroy();
    const upstream = connect(target.port, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  let edge;
  return {
    url,
    /** Starts the edge (startEdge's options); later connections reach it. Returns the edge. */
    async start(options) {
      if (edge) throw new Error('the edge is already started');
      edge = await startEdge(options);
      target = new URL(edge.url);
      return edge;
    },
    get edge() {
      return edge;
    },
    /** fetch through the proxy, as a client of `url` would. */
    fetch: (path, init) => fetch(url + path, init),
    async stop() {
      server.close();
      for (const s of sockets) s.destroy();
      await edge?.stop();
    },
  };
}
