"""Where equitr touches the machine: bubblewrap, cgroup limits, path guards, safe git, workspaces (mirror,
checkout, push), setup commands, and files only equitr's own user may read. Lower than the tools that use it:
nothing here imports `equitr.tools`."""
