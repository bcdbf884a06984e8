import { useId, useState, type FormEvent } from 'react';
import { MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, printable, type WorkspaceView } from '@tether/shared';

/** Edits a workspace's name and description (what the platform sees in the runtime list); Escape cancels. */
export function WorkspaceEditor({
  workspace,
  onSave,
  onCancel,
}: {
  workspace: WorkspaceView;
  onSave: (p: { name: string; description: string }) => Promise<void>;
  onCancel: () => void;
}) {
  const [name, setName] = useState(workspace.name);
  const [description, setDescription] = useState(workspace.description);
  const id = useId();

  function submit(e: FormEvent) {
    e.preventDefault();
    void onSave({ name: name.trim(), description: description.trim() });
  }

  return (
    <form
      className="editor"
      onSubmit={submit}
      aria-label={`Edit ${printable(workspace.name)}`}
      onKeyDown={(e) => {
        if (e.key !== 'Escape') return;
        e.preventDefault();
        onCancel();
      }}
    >
      <label htmlFor={`${id}-name`}>Name</label>
      <input
        id={`${id}-name`}
        required
        maxLength={MAX_NAME_CHARS}
        value={name}
        onChange={(e) => setName(e.target.value)}
        autoFocus
      />
      <label htmlFor={`${id}-desc`}>Description</label>
      <textarea
        id={`${id}-desc`}
        rows={2}
        maxLength={MAX_DESCRIPTION_CHARS}
        value={description}
        onChange={(e) => setDescription(e.target.value)}
        placeholder="What is in this folder, for the agents that use it"
      />
      <div className="row end">
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary">
          Save
        </button>
      </div>
    </form>
  );
}
