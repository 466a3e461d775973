import { NavLink, Outlet } from "react-router-dom";
import { useAction } from "../app/useAction";
import { useAuth, useUser } from "../app/auth";
import { ReauthDialog } from "./ReauthDialog";

/** The signed-in frame: a top bar with the main navigation, the page, and the password dialog. */
export function Layout() {
  const { logout } = useAuth();
  const user = useUser();
  const { busy: leaving, run } = useAction();

  const linkClass = ({ isActive }: { isActive: boolean }) => (isActive ? "nav-link active" : "nav-link");

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <div className="topbar-inner">
          <span className="brand" aria-hidden="true">
            <svg viewBox="0 0 32 32" width="22" height="22" focusable="false">
              <circle cx="12" cy="16" r="5" fill="none" stroke="currentColor" strokeWidth="3" />
              <path d="M17 16h10v4m-4-4v3" fill="none" stroke="currentColor" strokeWidth="3" strokeLinecap="round" />
            </svg>
            Latchkey
          </span>
          <nav aria-label="Main" className="nav">
            <ul className="nav-links">
              <li>
                <NavLink to="/projects" className={linkClass}>
                  Projects
                </NavLink>
              </li>
              <li>
                <NavLink to="/profile" end className={linkClass}>
                  My Profile
                </NavLink>
              </li>
              <li>
                <NavLink to="/profile/developer-settings" className={linkClass}>
                  Developer Settings
                </NavLink>
              </li>
              <li>
                <NavLink to="/sessions" className={linkClass}>
                  Sessions
                </NavLink>
              </li>
            </ul>
            <div className="nav-user">
              <span className="nav-email" title={user.email}>
                {user.email}
              </span>
              <button
                type="button"
                className="btn btn-on-dark"
                disabled={leaving}
                onClick={() => void run(() => logout())}
              >
                Log out
              </button>
            </div>
          </nav>
        </div>
      </header>
      <main id="main" className="page" tabIndex={-1}>
        <Outlet />
      </main>
      <ReauthDialog email={user.email} />
    </>
  );
}
