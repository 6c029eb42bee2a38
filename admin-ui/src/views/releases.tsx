import { useState } from 'preact/hooks';
import { ApiError, Manifest, Me, Release, get, post, putWithProgress } from '../api';
import { Badge, Empty, ErrorBox, Show, Time, bytes, short, useLoad } from '../ui';

const RELEASE_TYPE = 'application/vnd.updraft.release+json';

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function decodePayload(b64: string): string {
  const bin = atob(b64);
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

interface Checked {
  envelopeText: string;
  manifest: Manifest;
  firmware: File;
  sha256: string;
}

/**
 * Upload as `updraft publish` does: check the firmware against the signed
 * manifest here (SHA-256 and length), PUT the bytes to /api/artifacts/{sha},
 * then POST the envelope to /api/releases, where the edge verifies the
 * signatures under its root.
 */
function UploadForm({ onDone }: { onDone: (r: Release) => void }) {
  const [envelopeFile, setEnvelopeFile] = useState<File>();
  const [firmware, setFirmware] = useState<File>();
  const [checked, setChecked] = useState<Checked>();
  const [progress, setProgress] = useState<{ sent: number; total: number }>();
  const [phase, setPhase] = useState<'idle' | 'checking' | 'uploading' | 'registering' | 'done'>('idle');
  const [error, setError] = useState<Error>();

  async function check(env: File | undefined, fw: File | undefined) {
    setChecked(undefined);
    setError(undefined);
    if (!env || !fw) return;
    setPhase('checking');
    try {
      const envelopeText = await env.text();
      let envelope: any;
      try {
        envelope = JSON.parse(envelopeText);
      } catch {
        throw new Error(`${env.name} is not JSON: choose the signed release file (updraft release create --sign …)`);
      }
      if (envelope.payloadType !== RELEASE_TYPE) throw new Error(`${env.name}: payloadType is ${envelope.payloadType ?? 'missing'}; expected ${RELEASE_TYPE}`);
      if (!Array.isArray(envelope.signatures) || envelope.signatures.length === 0) throw new Error(`${env.name} is not signed`);
      const manifest: Manifest = JSON.parse(decodePayload(envelope.payload));
      if (fw.size !== manifest.artifact.length) {
        throw new Error(`${fw.name} has ${fw.size} bytes; the manifest says ${manifest.artifact.length}: wrong firmware file`);
      }
      const sha256 = hex(await crypto.subtle.digest('SHA-256', await fw.arrayBuffer()));
      if (sha256 !== manifest.artifact.sha256) {
        throw new Error(`${fw.name} hashes to ${short(sha256, 16)}; the manifest says ${short(manifest.artifact.sha256, 16)}: wrong firmware file`);
      }
      setChecked({ envelopeText, manifest, firmware: fw, sha256 });
      setPhase('idle');
    } catch (e) {
      setError(e as Error);
      setPhase('idle');
    }
  }

  async function upload(e: Event) {
    e.preventDefault();
    if (!checked) return;
    setError(undefined);
    try {
      setPhase('uploading');
      setProgress({ sent: 0, total: checked.firmware.size });
      await putWithProgress(`/api/artifacts/${checked.sha256}`, checked.firmware, (sent, total) => setProgress({ sent, total }));
      setPhase('registering');
      const rel = await post<Release>('/api/releases', checked.envelopeText);
      setPhase('done');
      onDone(rel);
    } catch (err) {
      setError(err as Error);
      setPhase('idle');
    }
  }

  const m = checked?.manifest;
  const percent = progress ? Math.round((progress.sent / Math.max(1, progress.total)) * 100) : 0;
  return (
    <form class="card" onSubmit={upload} aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a signed release</h2>
      <p class="muted small">
        The signed manifest (<code>updraft release create --sign</code>) and its firmware image. The firmware is checked against the manifest here
        before anything is sent; the edge verifies the signatures under its root.
      </p>
      <div class="row">
        <label class="field">
          <span>Signed release (JSON)</span>
          <input
            type="file"
            name="envelope"
            accept=".json,application/json"
            onChange={(e) => {
              const f = (e.target as HTMLInputElement).files?.[0];
              setEnvelopeFile(f);
              check(f, firmware);
            }}
          />
        </label>
        <label class="field">
          <span>Firmware image</span>
          <input
            type="file"
            name="firmware"
            onChange={(e) => {
              const f = (e.target as HTMLInputElement).files?.[0];
              setFirmware(f);
              check(envelopeFile, f);
            }}
          />
        </label>
      </div>
      {phase === 'checking' && <p role="status">Hashing the firmware…</p>}
      {m && (
        <dl class="facts" data-testid="upload-check">
          <dt>Release</dt>
          <dd>
            {m.product} {m.version} (security version {m.security_version})
          </dd>
          <dt>Hardware</dt>
          <dd>{m.hardware_ids.join(', ')}</dd>
          <dt>Firmware</dt>
          <dd>
            <span class="ok-text">✓ matches the manifest</span> · {bytes(m.artifact.length)} · <span class="mono">{short(checked!.sha256, 16)}</span>
          </dd>
        </dl>
      )}
      {progress && (
        <div class="progress-wrap">
          <label for="upload-progress">
            {phase === 'uploading' ? 'Uploading' : phase === 'registering' ? 'Registering the release' : phase === 'done' ? 'Uploaded' : 'Upload'} ·{' '}
            {bytes(progress.sent)} of {bytes(progress.total)}
          </label>
          <progress id="upload-progress" max={100} value={percent}>
            {percent} %
          </progress>
        </div>
      )}
      <ErrorBox error={error} />
      <button type="submit" class="primary" disabled={!checked || phase === 'uploading' || phase === 'registering'}>
        Upload release
      </button>
    </form>
  );
}

export function ReleasesView({ me }: { me: Me }) {
  const releases = useLoad(() => get<Release[]>('/api/releases'), [], 15_000);
  const [uploaded, setUploaded] = useState<Release>();
  const [busy, setBusy] = useState<string>();
  const [actionError, setActionError] = useState<Error>();

  const approve = async (r: Release) => {
    setBusy(r.id);
    setActionError(undefined);
    try {
      await post(`/api/releases/${r.id}/approve`);
      await releases.reload();
    } catch (e) {
      setActionError(e instanceof ApiError && e.slug === 'two-person-rule' ? new Error('You uploaded this release: another approver must approve it.') : (e as Error));
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <>
      <div class="page-head">
        <h1>Releases</h1>
      </div>
      {me.may.upload_release && (
        <UploadForm
          onDone={(r) => {
            setUploaded(r);
            releases.reload();
          }}
        />
      )}
      {uploaded && (
        <p class="notice" role="status">
          Published {uploaded.product} {uploaded.version} as <span class="mono">{uploaded.id}</span> ({uploaded.signers.length} valid signature
          {uploaded.signers.length === 1 ? '' : 's'}). Another person approves it next.
        </p>
      )}
      <ErrorBox error={actionError} />
      <section class="card" aria-labelledby="releases-title">
        <h2 id="releases-title">All releases</h2>
        <Show load={releases}>
          {(list) =>
            list.length === 0 ? (
              <Empty>No releases yet. An uploader publishes one here or with <code>updraft publish</code>.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="data" data-testid="releases">
                  <thead>
                    <tr>
                      <th scope="col">Release</th>
                      <th scope="col">Status</th>
                      <th scope="col">Signatures</th>
                      <th scope="col">Artifact</th>
                      <th scope="col">Uploaded</th>
                      <th scope="col">Approved</th>
                      <th scope="col">
                        <span class="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...list].reverse().map((r) => {
                      const mine = r.uploaded_by === me.id;
                      return (
                        <tr data-release={r.id}>
                          <td>
                            <strong>
                              {r.product} {r.version}
                            </strong>
                            <div class="mono small muted">{r.id}</div>
                            {r.manifest?.notes && <div class="small">{r.manifest.notes}</div>}
                          </td>
                          <td>
                            <Badge kind={r.status}>{r.status}</Badge>
                          </td>
                          <td>
                            {r.signers.length === 0 ? (
                              <Badge kind="fail">none valid</Badge>
                            ) : (
                              <span title={r.signers.join('\n')}>
                                {r.signers.length} valid · <span class="mono small">{r.signers.map((k) => short(k, 8)).join(', ')}</span>
                              </span>
                            )}
                          </td>
                          <td>
                            <span class="mono small" title={r.artifact_sha256}>
                              {short(r.artifact_sha256, 12)}
                            </span>
                            {r.manifest && <div class="small muted">{bytes(r.manifest.artifact.length)} · sv {r.security_version}</div>}
                          </td>
                          <td>
                            <Time at={r.uploaded_at} />
                            <div class="small muted">by {mine ? 'you' : r.uploaded_by}</div>
                          </td>
                          <td>
                            {r.approved_at ? (
                              <>
                                <Time at={r.approved_at} />
                                <div class="small muted">by {r.approved_by === me.id ? 'you' : r.approved_by}</div>
                              </>
                            ) : (
                              <span class="muted">—</span>
                            )}
                          </td>
                          <td>
                            {r.status === 'pending' && me.may.approve_release && !mine && (
                              <button type="button" class="primary" disabled={busy === r.id} onClick={() => approve(r)}>
                                Approve
                              </button>
                            )}
                            {r.status === 'pending' && me.may.approve_release && mine && (
                              <span class="small muted" data-testid="two-person">
                                You uploaded it: another approver must approve.
                              </span>
                            )}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )
          }
        </Show>
      </section>
    </>
  );
}
