"""The serving process: vector indexes kept fresh by MongoDB change streams, behind HTTP."""
