/**
 * A table's header row: one column header a name, then the actions column, whose header is read by screen
 * readers only. On a phone (`.table.responsive`) the header is hidden and each cell's `data-label` names it.
 */
export function TableHead({ columns }: { columns: readonly string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th key={column} scope="col">
            {column}
          </th>
        ))}
        <th scope="col">
          <span className="visually-hidden">Actions</span>
        </th>
      </tr>
    </thead>
  );
}
