import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, Me, getToken, request, setToken, setUnauthorizedHandler } from './api';
import { ErrorBox } from './ui';
import { FleetView } from './views/fleet';
import { DeviceView } from './views/device';
import { ReleasesView } from './views/releases';
import { CampaignsView } from './views/campaigns';
import { CampaignView } from './views/campaign';
import { CampaignForm } from './views/campaign-form';
import { RevocationsView } from './views/revocations';
import { AuditView } from './views/audit';
import './style.css';

/** Hash routes (#/campaigns/cmp-…): the UI is one static file, no server routing. */
function useRoute(): string[] {
  const parse = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const on = () => setRoute(parse());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

const NAV: [string, string][] = [
  ['fleet', 'Fleet'],
  ['releases', 'Releases'],
  ['campaigns', 'Campaigns'],
  ['revocations', 'Revocation'],
  ['audit', 'Audit log'],
];

function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [token, setValue] = useState('');
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const me = await request<Me>('GET', '/api/me', undefined, token.trim());
      setToken(token.trim());
      onSignedIn(me);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new Error('That token is unknown or revoked.') : (err as Error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} class="card" aria-labelledby="signin-title">
        <h1 id="signin-title">
          <span class="logo" aria-hidden="true">
            ⇡
          </span>{' '}
          Updraft admin
        </h1>
        <p class="muted">
          Sign in with an API token (<code>updraft tokens create</code>). It is kept in this tab's session storage only and sent as a
          bearer header, never in a URL.
        </p>
        <label class="field">
          <span>API token</span>
          <input
            type="password"
            name="token"
            autoComplete="off"
            required
            value={token}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy || !token.trim()}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(!!getToken());
  const route = useRoute();

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setToken(null);
      setMe(null);
    });
    if (getToken()) {
      request<Me>('GET', '/api/me')
        .then(setMe)
        .catch(() => setToken(null))
        .finally(() => setChecking(false));
    }
  }, []);

  if (checking) return <div class="loading">Loading…</div>;
  if (!me) return <SignIn onSignedIn={setMe} />;

  const [top = 'fleet', id] = route;
  let view;
  if (top === 'fleet') view = <FleetView />;
  else if (top === 'devices' && id) view = <DeviceView id={id} me={me} />;
  else if (top === 'releases') view = <ReleasesView me={me} />;
  else if (top === 'campaigns' && id === 'new') view = <CampaignForm me={me} />;
  else if (top === 'campaigns' && id) view = <CampaignView id={id} me={me} />;
  else if (top === 'campaigns') view = <CampaignsView me={me} />;
  else if (top === 'revocations') view = <RevocationsView me={me} />;
  else if (top === 'audit') view = <AuditView />;
  else view = <p class="empty">Nothing here. Pick a page above.</p>;
  const section = top === 'devices' ? 'fleet' : top;

  const signOut = () => {
    setToken(null);
    setMe(null);
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/fleet">
          <span class="logo" aria-hidden="true">
            ⇡
          </span>{' '}
          Updraft
        </a>
        <nav aria-label="Sections">
          {NAV.map(([key, label]) => (
            <a href={`#/${key}`} aria-current={section === key ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="whoami">
          <span title={`token ${me.id}`} data-testid="whoami">
            {me.name} · <strong>{me.role}</strong>
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {view}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
