"""Data layer: bAbI stories, books, BABILong-style haystacks, RULER variable tracking, real BABILong files."""
