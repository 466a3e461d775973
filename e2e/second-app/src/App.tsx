import { ProblemError, useLatchkey, useSession, type Me } from "@latchkey/client";
import { useEffect, useState, type SubmitEvent } from "react";

const message = (error: unknown) => (error instanceof ProblemError ? `${error.code}: ${error.detail}` : String(error));

function SignIn() {
  const { login } = useSession();
  const [error, setError] = useState("");
  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    await login(String(form.get("email")), String(form.get("password"))).catch((e: unknown) => setError(message(e)));
  }
  return (
    <form onSubmit={(event) => void submit(event)}>
      <h1>Sign in</h1>
      <label>Email <input name="email" type="email" autoComplete="username" required /></label>
      <label>Password <input name="password" type="password" autoComplete="current-password" required /></label>
      <button type="submit">Sign in</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}

function Home() {
  const client = useLatchkey();
  const { user, expiresAt, logout } = useSession();
  const [me, setMe] = useState<Me | null>(null);
  const [custom, setCustom] = useState("");
  const [echo, setEcho] = useState("");

  useEffect(() => void client.api.getMe().then(setMe, (e: unknown) => setCustom(message(e))), [client]);

  async function callCustomRoute() {
    // A route of LATCHKEY_BFF_ROUTES (not the core's): the transport call takes any BFF path.
    const seen = (await client.http.json("/echo-api/echo")) as { method: string; headers: [string, string][] };
    const bearer = seen.headers.some(([name, value]) => name.toLowerCase() === "authorization" && value.startsWith("Bearer "));
    setCustom(`${seen.method} /echo reached the upstream ${bearer ? "with" : "without"} a bearer token`);
  }

  function openSocket() {
    const socket = client.webSocket("/live/ws");
    socket.onopen = () => socket.send("hello through the BFF");
    socket.onmessage = (event) => {
      setEcho(String(event.data));
      socket.close();
    };
    socket.onclose = (event) => setEcho((text) => text || `closed with ${event.code}`);
  }

  return (
    <main>
      <h1>Hello, {user?.name}</h1>
      <p>Session ends {expiresAt?.toISOString()}</p>
      <output aria-label="Who am I">{me && `${me.email} (${me.role})`}</output>
      <button onClick={() => void callCustomRoute().catch((e: unknown) => setCustom(message(e)))}>Call the custom route</button>
      <output aria-label="Custom route">{custom}</output>
      <button onClick={openSocket}>Open the WebSocket</button>
      <output aria-label="WebSocket">{echo}</output>
      <button onClick={() => void logout()}>Sign out</button>
    </main>
  );
}

export function App() {
  const { status } = useSession();
  if (status === "loading") return <p>Loading…</p>;
  return status === "signed-in" ? <Home /> : <SignIn />;
}
