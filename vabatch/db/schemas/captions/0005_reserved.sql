-- Reserved for the annotate-core branch (captions/0005 is its number; captions/0006 is the
-- checksums step). Does nothing: when the two branches merge, this file goes.
SELECT 1 WHERE 0;
