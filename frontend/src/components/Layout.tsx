import { useEffect, useId, useRef, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router-dom";
import { useAction } from "../app/useAction";
import { useAuth, useUser } from "../app/auth";
import { ReauthDialog } from "./ReauthDialog";

/**
 * The compact menu of a narrow screen: open or closed; Escape closes it and gives focus back to its button,
 * and so does choosing a link (the route change then moves focus to the new page's heading).
 */
function useMenu() {
  const { pathname } = useLocation();
  // The page it was opened on: on a new page the menu is done (closed without an effect).
  const [openOn, setOpenOn] = useState<string | null>(null);
  const open = openOn === pathname;
  const button = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "Escape" || event.defaultPrevented) return;
      setOpenOn(null);
      button.current?.focus();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open]);

  const setOpen = (value: boolean) => setOpenOn(value ? pathname : null);
  return { open, setOpen, button };
}

/** The signed-in frame: a top bar with the main navigation, the page, and the password dialog. */
export function Layout() {
  const { logout } = useAuth();
  const user = useUser();
  const { busy: leaving, run } = useAction();
  const { open: menuOpen, setOpen: setMenuOpen, button: menuButton } = useMenu();
  const menuId = useId();

  const linkClass = ({ isActive }: { isActive: boolean }) => (isActive ? "nav-link active" : "nav-link");
  const close = () => setMenuOpen(false);

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
          <button
            ref={menuButton}
            type="button"
            className="btn btn-on-dark menu-button"
            aria-expanded={menuOpen}
            aria-controls={menuId}
            onClick={() => setMenuOpen(!menuOpen)}
          >
            <svg viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" focusable="false">
              <path d="M3 5h14M3 10h14M3 15h14" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
            </svg>
            Menu
          </button>
          <nav id={menuId} aria-label="Main" className={menuOpen ? "nav open" : "nav"}>
            <ul className="nav-links">
              <li>
                <NavLink to="/projects" className={linkClass} onClick={close}>
                  Projects
                </NavLink>
              </li>
              <li>
                <NavLink to="/profile" end className={linkClass} onClick={close}>
                  My Profile
                </NavLink>
              </li>
              <li>
                <NavLink to="/profile/developer-settings" className={linkClass} onClick={close}>
                  Developer Settings
                </NavLink>
              </li>
              <li>
                <NavLink to="/sessions" className={linkClass} onClick={close}>
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
