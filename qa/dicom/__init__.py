"""Reading DICOM: everything pydicom-specific lives here."""
