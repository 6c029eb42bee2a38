// Takes a V8 CPU profile of one worker through workerd's inspector while
// `work()` runs, and returns self time per function name, largest first.
import WebSocket from 'ws';

export async function profileWhile(port, workerName, work) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  const target = targets.find((t) => t.title?.includes(workerName) || t.url?.includes(workerName)) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((ok, fail) => { ws.once('open', ok); ws.once('error', fail); });
  let id = 0;
  const pending = new Map();
  ws.on('message', (m) => {
    const msg = JSON.parse(m);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  });
  const send = (method, params = {}) => new Promise((ok) => { const i = ++id; pending.set(i, ok); ws.send(JSON.stringify({ id: i, method, params })); });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: 50 });
  await send('Profiler.start');
  await work();
  const { result } = await send('Profiler.stop');
  ws.close();
  const { nodes, samples, timeDeltas } = result.profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  samples.forEach((nodeId, i) => {
    const dt = (timeDeltas[i] ?? 0) / 1000;
    const n = byId.get(nodeId);
    const name = n.callFrame.functionName || `(${n.callFrame.url || 'anonymous'})`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  return [...self.entries()].map(([name, selfMs]) => ({ name, selfMs, pct: (100 * selfMs) / total })).sort((a, b) => b.selfMs - a.selfMs).slice(0, 40);
}
