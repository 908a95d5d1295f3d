"""class_source_counts reads an expand manifest back as samples per class and source."""

from augkit.expand.counts import class_source_counts


def test_counts_per_class_and_source(tmp_path):
    (tmp_path / "manifest.csv").write_text(
        "index,id,source,files\n0,a,real,grade_II/a.png\n1,b,gan,grade_II/b.png\n"
        "2,c,gan,grade_III/c.png\n3,d,gan,grade_II/d.png\n")
    assert class_source_counts(tmp_path / "manifest.csv") == {"grade_II": {"real": 1, "gan": 2},
                                                              "grade_III": {"gan": 1}}
