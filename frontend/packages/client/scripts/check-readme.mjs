// Type-check the README's ```tsx examples against the built package (dist/), as an app would import it:
// each block becomes .readme-check/example-N.tsx, compiled by tsc with the package's own strict options.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, ".readme-check");

if (!existsSync(path.join(root, "dist", "index.d.ts"))) {
  console.error("@latchkey/client: dist/ is missing: run `npm run build --workspace @latchkey/client` first");
  process.exit(1);
}

const readme = readFileSync(path.join(root, "README.md"), "utf8");
const blocks = [...readme.matchAll(/^```tsx\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
if (blocks.length === 0) {
  console.error("@latchkey/client: README.md has no ```tsx example to check");
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = blocks.map((code, index) => {
  const name = `example-${index + 1}.tsx`;
  writeFileSync(path.join(out, name), code);
  return name;
});
const config = {
  extends: "../tsconfig.json",
  compilerOptions: { module: "ESNext", moduleResolution: "Bundler", types: [] },
  include: files,
};
writeFileSync(path.join(out, "tsconfig.json"), JSON.stringify(config, null, 2));

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const result = spawnSync(process.execPath, [tsc, "--noEmit", "-p", out], { stdio: "inherit" });
if (result.status !== 0) {
  console.error("@latchkey/client: a README example does not type-check (files in .readme-check/)");
  process.exit(result.status ?? 1);
}
console.log(`@latchkey/client: ${files.length} README example(s) type-check against dist/`);
