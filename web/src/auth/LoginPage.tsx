import { useEffect, useId, useState, type SubmitEvent } from 'react';
import { useRouter } from '../routing/Router.js';
import { safeNextPath } from '../routing/routes.js';
import { Avatar } from '../ui/Avatar.js';
import { useDocumentTitle } from '../ui/useDocumentTitle.js';
import { useAuth } from './AuthProvider.js';
import { devLoginUsers, LoginError, type DevLoginUser } from './devLogin.js';
import { roleLabel } from './roles.js';

export function LoginPage() {
  const { signIn, handoverProblem } = useAuth();
  const { location, navigate } = useRouter();
  const [username, setUsername] = useState('');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const usernameId = useId();
  const errorId = useId();
  useDocumentTitle('Sign in');
  // The demo users exist only on a server that seeds them (SEED_DEMO=true): it says whom it offers.
  const [demoUsers, setDemoUsers] = useState<DevLoginUser[]>([]);
  useEffect(() => {
    let live = true;
    void devLoginUsers().then((users) => {
      if (live) setDemoUsers(users);
    });
    return () => {
      live = false;
    };
  }, []);

  const signInAs = async (name: string) => {
    const trimmed = name.trim();
    if (trimmed === '') {
      setError('Enter a username, or pick one of the demo users.');
      return;
    }
    setBusy(trimmed);
    setError(null);
    try {
      await signIn(trimmed);
      navigate(safeNextPath(location.search), { replace: true });
    } catch (e) {
      setError(e instanceof LoginError ? e.message : 'Sign-in failed unexpectedly. Try again.');
      setBusy(null);
    }
  };

  const onSubmit = (e: SubmitEvent) => {
    e.preventDefault();
    void signInAs(username);
  };

  return (
    <main className="login" id="main">
      <div className="login-card card">
        <p className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            ◆
          </span>{' '}
          Siteflow Collab
        </p>
        <h1 className="page-title">Sign in</h1>
        <p className="muted">Development sign-in: pick a demo user or type a username.</p>

        {(error ?? handoverProblem) && (
          <p className="form-error" id={errorId} role="alert" data-testid="sign-in-problem">
            {error ?? handoverProblem}
          </p>
        )}

        {demoUsers.length > 0 && <h2 className="section-label">Demo users</h2>}
        <ul className="demo-users" hidden={demoUsers.length === 0}>
          {demoUsers.map((u) => (
            <li key={u.username}>
              <button
                type="button"
                className="demo-user"
                onClick={() => void signInAs(u.username)}
                disabled={busy !== null}
                aria-busy={busy === u.username}
              >
                <Avatar userId={u.id} name={u.username} />
                <span className="demo-user-name">{u.username}</span>
                <span className={`role-tag role-${u.role}`}>{roleLabel[u.role]}</span>
              </button>
            </li>
          ))}
        </ul>

        <form className="login-form" onSubmit={onSubmit} noValidate>
          <label htmlFor={usernameId}>Username</label>
          <div className="inline-field">
            <input
              id={usernameId}
              name="username"
              type="text"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              maxLength={100}
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              aria-describedby={(error ?? handoverProblem) ? errorId : undefined}
              disabled={busy !== null}
            />
            <button type="submit" className="button button-primary" disabled={busy !== null}>
              {busy !== null && busy === username.trim() ? 'Signing in…' : 'Sign in'}
            </button>
          </div>
        </form>
      </div>
    </main>
  );
}
