// Adversarial fixtures: builds DSSE envelopes directly with Node's crypto, the
// way an attacker holding a key would, to present the edge with documents our
// own tools refuse to make (expired certificates, foreign signers). The shared
// vectors in core/tests/vectors keep this PAE honest.
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

function pae(type, payload) {
  const t = Buffer.from(type, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${t.length} `), t, Buffer.from(` ${payload.length} `), payload]);
}

/** Reads an `updraft keys generate` private key file. */
export function loadKey(path) {
  const file = JSON.parse(readFileSync(path, 'utf8'));
  const seed = Buffer.from(file.seed, 'base64');
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return { keyid: file.keyid, public: file.public, key: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
}

/** A DSSE envelope over `payloadObj`, signed by each of `keys`. */
export function envelope(payloadType, payloadObj, keys) {
  const payload = Buffer.from(JSON.stringify(payloadObj), 'utf8');
  return {
    payloadType,
    payload: payload.toString('base64'),
    signatures: keys.map((k) => ({ keyid: k.keyid, sig: sign(null, pae(payloadType, payload), k.key).toString('base64') })),
  };
}

export const CERT_TYPE = 'application/vnd.updraft.device-cert+json';
export const RELEASE_TYPE = 'application/vnd.updraft.release+json';
